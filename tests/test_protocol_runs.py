"""protocol_runs.protocol_record_runs: A6's record runs, for both training sets."""

from pathlib import Path

import pandas as pd
import pytest

from fashionlib import results, train_keras
from fashionlib.protocol_runs import protocol_record_runs

DIAG = train_keras.DIAGNOSTIC_TEST_KEY


def _finished(protocol, history, model_path=None):
    return {"setting": {"model": "improved_cnn", "epochs": 3, "seed": 1}, "seed": 1,
            "metrics": {"accuracy": 90.5, "loss": 0.3}, "history": pd.DataFrame(history), "seconds_per_epoch": 2.5,
            "model_path": model_path, "protocol": protocol, "train_images": 480}


def test_split_runs_report_validation_and_diagnostic_test_accuracy(tmp_path):
    run = protocol_record_runs([_finished("split_48k", {"accuracy": [0.5, 0.6, 0.7], "val_accuracy": [0.6, 0.8, 0.7],
                                                        DIAG: [0.61, 0.79, 0.75]}, tmp_path / "m.keras")])[0]
    assert run["setting"] == {"model": "improved_cnn", "epochs": 3, "protocol": "split_48k", "train_images": 480}
    assert run["seed"] == 1 and run["model_file"] == tmp_path / "m.keras"
    assert run["metrics"] == {"accuracy": 90.5, "loss": 0.3, "val_accuracy_final": pytest.approx(70.0),
                              "val_accuracy_best": pytest.approx(80.0),
                              "diagnostic_test_accuracy_best": pytest.approx(79.0), "diagnostic_best_epoch": 2,
                              "seconds_per_epoch": 2.5, "epochs_run": 3}
    assert list(run["metrics"]) == ["accuracy", "loss", "val_accuracy_final", "val_accuracy_best",
                                    "diagnostic_test_accuracy_best", "diagnostic_best_epoch", "seconds_per_epoch",
                                    "epochs_run"]


def test_all_60k_runs_have_no_validation_split_and_write_as_records(tmp_path):
    runs = protocol_record_runs([_finished("all_60k", {"accuracy": [0.5, 0.6], DIAG: [0.9, 0.8]})])
    m = runs[0]["metrics"]
    assert m["val_accuracy_final"] is None and m["val_accuracy_best"] is None
    assert m["diagnostic_test_accuracy_best"] == pytest.approx(90.0) and m["diagnostic_best_epoch"] == 1
    path = results.write_record("nb", {"profile": "smoke"}, runs, results_dir_=tmp_path)
    assert Path(path).is_file() and runs[0]["model_file"] is None


def _protocol_frame():
    return pd.DataFrame({"protocol": ["split_48k"] * 4 + ["all_60k"] * 2,
                         "model": ["improved_cnn", "improved_cnn", "improved_cnn_strided", "improved_cnn_strided",
                                   "improved_cnn", "improved_cnn"],
                         "seed": [0, 1, 0, 1, 0, 1], "accuracy": [90.0, 91.0, 92.0, 93.0, 91.5, 92.5],
                         "val_accuracy_best": [92.0, 92.5, 93.0, 94.0, None, None], "profile": "smoke",
                         "device": "cpu", "commit": "abc", "started": "2026-01-01", "record": "r.json"})


PROTOCOLS = {"ours": ("split_48k", "accuracy"), "val best": ("split_48k", "val_accuracy_best"),
             "keras": ("all_60k", "accuracy")}
READING = {"improved_cnn": "plain", "improved_cnn_strided": "stride"}


def test_by_protocol_takes_each_protocols_column_from_its_training_set():
    from fashionlib.protocol_runs import by_protocol

    long = by_protocol(_protocol_frame(), PROTOCOLS, READING)
    assert list(long.columns) == ["protocol", "reading", "seed", "accuracy"]
    assert list(zip(long["protocol"], long["reading"], long["accuracy"])) == [
        ("ours", "plain", 90.0), ("ours", "plain", 91.0), ("ours", "stride", 92.0), ("ours", "stride", 93.0),
        ("val best", "plain", 92.0), ("val best", "plain", 92.5), ("val best", "stride", 93.0),
        ("val best", "stride", 94.0), ("keras", "plain", 91.5), ("keras", "plain", 92.5)]


def test_compare_protocols_rows_and_chances_per_protocol_and_reading():
    from fashionlib.protocol_runs import by_protocol, compare_protocols

    frame = _protocol_frame()
    rows, luck = compare_protocols(by_protocol(frame, PROTOCOLS, READING), frame, PROTOCOLS, READING, 92.5, ks=(3,))
    keys = ["ours | plain", "ours | stride", "val best | plain", "val best | stride", "keras | plain"]
    assert list(rows) == keys and [row[""] for row in luck] == keys
    assert rows["ours | stride"]["mean"] == pytest.approx(92.5) and rows["ours | stride"]["n"] == 2
    assert [row["share of runs >= 92.5"] for row in luck] == [0.0, 0.5, 0.5, 1.0, 0.5]
    assert list(luck[0]) == ["", "share of runs >= 92.5", "P(one run >= 92.5), normal fit",
                             "expected best of 3 (normal fit)"]



def test_protocol_stats_add_each_ci_and_the_normal_fits_chance():
    from fashionlib.protocol_runs import by_protocol, compare_protocols, protocol_stats

    frame = _protocol_frame()
    long = by_protocol(frame, PROTOCOLS, READING)
    rows, luck = compare_protocols(long, frame, PROTOCOLS, READING, 92.6)
    stats = protocol_stats(rows, luck, 92.6)
    ci = rows["ours | stride"]["ci95"]
    assert list(stats.loc["ours | stride", ["low", "high"]]) == pytest.approx([92.5 - ci, 92.5 + ci])
    assert stats.loc["keras | plain", "chance"] == luck[-1]["P(one run >= 92.6), normal fit"]


def test_headline_values_name_the_better_reading_of_ours_and_where_the_paper_lies():
    from fashionlib import report
    from fashionlib.study_a_verdict import headline_values

    stats = pd.DataFrame({"mean": [91.0, 92.5, 92.85, 93.5], "low": [90.5, 92.0, 92.8, 93.2],
                          "high": [91.5, 92.8, 93.0, 93.8], "n": [5, 4, 5, 5], "chance": [0.001, 0.2, 0.55, 0.9]},
                         index=["ours: test | plain", "ours: test | stride", "val | stride", "keras | stride"])
    long = pd.DataFrame({"protocol": ["ours: test"] * 4 + ["val"] * 2, "reading": ["stride"] * 3 + ["plain"] + ["stride"] * 2,
                         "accuracy": [92.0, 92.5, 93.0, 80.0, 99.0, 99.5]})
    out = headline_values(stats, long, 92.87)
    assert (out["a6_ours_label"], out["a6_ours_mean"], out["a6_ours_low"], out["a6_ours_high"], out["a6_ours_n"],
            out["a6_ours_chance"]) == ("ours: test, stride", 92.5, 92.0, 92.8, 4, "0.20")
    assert out["a6_ours_best10"] == report.expected_best_of([92.0, 92.5, 93.0], 10)["normal"]
    assert (out["a6_reach"], out["a6_typical"]) == ("val, stride; keras, stride", "val, stride")
    assert (out["a6_closest"], out["a6_closest_mean"]) == ("val, stride", 92.85)
    assert headline_values(stats.iloc[:2], long, 95.0)["a6_typical"] == "none"
