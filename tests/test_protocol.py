"""The a6 protocol pieces: training on all 60,000 images, the test set as validation data (a labelled
diagnostic), per-epoch diagnostic test accuracy, the curve measures and the "one lucky run" statistics."""

import math

import numpy as np
import pandas as pd
import pytest

keras = pytest.importorskip("keras")

from fashionlib import data, metrics, report, train_keras  # noqa: E402
from fashionlib.train_keras import FitConfig  # noqa: E402

N_TRAIN = 200
N_TEST = 300


def _small(d):
    """A prepared data dict with a 300-image test set, so per-epoch test evaluation stays cheap."""
    return {**d, "x_test": d["x_test"][:N_TEST], "y_test": d["y_test"][:N_TEST]}


@pytest.fixture(scope="module")
def split(fmnist):
    return _small(data.prepare_data(fmnist, train_size=N_TRAIN))


@pytest.fixture(scope="module")
def no_split(fmnist):
    return _small(data.prepare_data(fmnist, train_size=N_TRAIN, val_size=0))


# ---------------------------------------------------------------- data: all 60,000 ----------
def test_val_size_zero_trains_on_all_60000(fmnist):
    d = data.prepare_data(fmnist, val_size=0)
    assert (len(d["y_train"]), len(d["y_val"]), len(d["y_test"])) == (60_000, 0, 10_000)
    assert d["x_val"].shape == (0, 28, 28, 1)
    assert np.array_equal(d["train_idx"], np.arange(60_000))
    # normalised with the statistics of all 60,000 training images
    assert abs(float(d["x_train"].mean())) < 1e-4 and abs(float(d["x_train"].std()) - 1) < 1e-3


def test_val_size_zero_with_train_size_subsamples_stratified(no_split):
    assert len(no_split["y_train"]) == N_TRAIN and len(no_split["y_val"]) == 0
    assert np.bincount(no_split["y_train"]).tolist() == [N_TRAIN // 10] * 10


@pytest.mark.parametrize("bad", [-1, 1.5, True, None])
def test_bad_val_size_is_a_clear_error(fmnist, bad):
    with pytest.raises(ValueError, match="val_size must be an integer >= 0"):
        data.prepare_data(fmnist, val_size=bad)


# ---------------------------------------------------------------- fit: protocols -----------
def test_validation_test_needs_data_without_a_split(split):
    with pytest.raises(ValueError, match=r"val_size=0"):
        train_keras.fit(split, FitConfig(epochs=1, validation="test"))


def test_validation_split_needs_a_split(no_split):
    with pytest.raises(ValueError, match="validation='test'"):
        train_keras.fit(no_split, FitConfig(epochs=1, validation="split"))


def test_unknown_validation_is_a_clear_error(split):
    with pytest.raises(ValueError, match="'validation' must be one of 'split', 'test'; got 'val'"):
        train_keras.fit(split, FitConfig(epochs=1, validation="val"))


def test_diagnostic_with_test_validation_is_redundant(no_split):
    with pytest.raises(ValueError, match="redundant"):
        train_keras.fit(no_split, FitConfig(epochs=1, validation="test", diagnostic_test=True))


def _final_test_accuracy(res, d):
    return metrics.accuracy(d["y_test"], train_keras.predict_proba(res.model, d["x_test"]))


@pytest.mark.slow
def test_keras_tutorial_protocol_records_test_numbers_under_a_diagnostic_name(no_split, tmp_path):
    res = train_keras.fit(no_split, FitConfig(epochs=2, batch_size=64, validation="test"), backup_dir=tmp_path / "b")
    h = res.history
    assert "val_accuracy" not in h and "val_loss" not in h
    assert len(h["diagnostic_test_accuracy"]) == 2 and len(h["diagnostic_test_loss"]) == 2
    assert res.params["validation"] == "test" and res.params["train_images"] == N_TRAIN
    # the last epoch's diagnostic is the final model's test accuracy, evaluated independently
    assert h["diagnostic_test_accuracy"].iloc[-1] == pytest.approx(_final_test_accuracy(res, no_split), abs=1e-6)


@pytest.mark.slow
def test_diagnostic_test_accuracy_beside_the_validation_split(split, tmp_path):
    plain = train_keras.fit(split, FitConfig(epochs=2, batch_size=64), backup_dir=tmp_path / "a")
    diag = train_keras.fit(split, FitConfig(epochs=2, batch_size=64, diagnostic_test=True), backup_dir=tmp_path / "b")
    assert "diagnostic_test_accuracy" not in plain.history
    assert len(diag.history["diagnostic_test_accuracy"]) == 2
    assert diag.history["diagnostic_test_accuracy"].iloc[-1] == pytest.approx(_final_test_accuracy(diag, split),
                                                                               abs=1e-6)
    # a diagnostic only: the run trains exactly as without it
    cols = ["loss", "accuracy", "val_loss", "val_accuracy"]
    pd.testing.assert_frame_equal(plain.history[cols], diag.history[cols])


# ---------------------------------------------------------------- curve measures -----------
def test_crossing_epoch_hand_cases():
    h = {"accuracy": [0.5, 0.6, 0.8, 0.7, 0.9, 0.95], "val_accuracy": [0.6, 0.7, 0.7, 0.75, 0.8, 0.8]}
    # above at epoch 3, below again at 4, above for good from epoch 5
    assert metrics.crossing_epoch(h) == 5
    assert metrics.crossing_epoch(pd.DataFrame(h)) == 5
    assert metrics.crossing_epoch({"accuracy": [0.9, 0.9], "val_accuracy": [0.1, 0.2]}) == 1
    assert metrics.crossing_epoch({"accuracy": [0.9, 0.1], "val_accuracy": [0.1, 0.2]}) is None
    assert metrics.crossing_epoch({"accuracy": [0.5, 0.5], "val_accuracy": [0.5, 0.5]}) is None  # ties: not above
    assert metrics.crossing_epoch({"loss": [1.0, 0.5, 0.3], "val_loss": [0.8, 0.6, 0.4]}, "val_loss", "loss") == 2


def test_share_measures_hand_cases():
    h = {"loss": [1.0, 0.5, 0.3, 0.2], "val_loss": [0.8, 0.6, 0.4, 0.5]}
    assert metrics.share_above(h, "val_loss", "loss") == 0.75
    assert metrics.share_after_minimum(h, "val_loss") == 0.25  # lowest at epoch 3 of 4
    assert metrics.share_after_minimum({"val_loss": [3, 2, 1]}) == 0.0  # still falling
    assert metrics.share_after_minimum({"val_loss": [1, 2, 3, 4]}) == 0.75


def test_curve_measures_name_a_missing_column():
    with pytest.raises(KeyError, match="'val_accuracy'"):
        metrics.crossing_epoch({"accuracy": [0.1]})
    with pytest.raises(ValueError, match="equal length"):
        metrics.share_above({"a": [1, 2], "b": [1]}, "a", "b")


# ---------------------------------------------------------------- one lucky run ------------
def test_chance_at_least_hand_cases():
    c = report.chance_at_least([92.0, 92.5, 93.0, 91.5], 92.87)
    assert c["empirical"] == 0.25 and c["n"] == 4
    vals = np.array([92.0, 92.5, 93.0, 91.5])
    z = (92.87 - vals.mean()) / vals.std(ddof=1)
    assert c["normal"] == pytest.approx(0.5 * math.erfc(z / math.sqrt(2)), rel=1e-9)
    assert report.chance_at_least([92.0, 92.0], 92.0)["normal"] == 1.0  # no spread, at the target
    assert math.isnan(report.chance_at_least([93.0], 92.87)["normal"])


def test_expected_best_of_hand_cases():
    vals = [1.0, 2.0, 4.0]
    assert report.expected_best_of(vals, 1)["empirical"] == pytest.approx(7 / 3)  # k=1: the mean
    # k=2 with replacement: P(max=1)=1/9, P(max=2)=3/9, P(max=4)=5/9
    assert report.expected_best_of(vals, 2)["empirical"] == pytest.approx((1 + 6 + 20) / 9)
    assert report.expected_best_of(vals, 1)["normal"] == pytest.approx(7 / 3, abs=1e-9)
    sd = np.std(vals, ddof=1)
    assert report.expected_best_of(vals, 2)["normal"] == pytest.approx(7 / 3 + sd / math.sqrt(math.pi), rel=1e-7)
    assert report.expected_best_of(vals, 1000)["empirical"] <= 4.0


@pytest.mark.parametrize("k", [0, 1.5, True])
def test_expected_best_of_bad_k(k):
    with pytest.raises(ValueError, match="k must be an integer >= 1"):
        report.expected_best_of([1.0, 2.0], k)


# ---------------------------------------------------------------- margins on equal terms ---
def _frame(rows):
    f = pd.DataFrame(rows, columns=["model", "seed", "accuracy", "env", "record"])
    return f.assign(profile="paper", device=f["env"].str.split(",").str[0], commit="abc")


def test_margin_is_paired_within_one_environment_only():
    f = _frame([("improved_cnn", 0, 92.0, "cpu, tensorflow", "a1"), ("improved_cnn", 1, 92.2, "cpu, tensorflow", "a1"),
                ("cnn", 0, 90.0, "gpu, jax", "a2"), ("cnn", 1, 90.4, "gpu, jax", "a2")])
    out = report.paired_difference_same_env(f, "accuracy", "model", "improved_cnn", "cnn")
    assert out["comparable"] is False and "gpu, jax" in out["reason"] and "cpu, tensorflow" in out["reason"]
    # the same baseline runs, now with improved-CNN runs from the same environment and record
    f2 = pd.concat([f, _frame([("improved_cnn", 0, 91.0, "gpu, jax", "a2"), ("improved_cnn", 1, 91.6, "gpu, jax", "a2"),
                               ("improved_cnn", 2, 99.0, "gpu, jax", "a2")])], ignore_index=True)
    out = report.paired_difference_same_env(f2, "accuracy", "model", "improved_cnn", "cnn")
    assert out["comparable"] and out["env"] == "gpu, jax" and out["n"] == 2 and out["seeds"] == [0, 1]
    assert out["difference"] == pytest.approx(((91.0 - 90.0) + (91.6 - 90.4)) / 2)


def test_margin_prefers_the_runs_recorded_beside_the_baseline():
    f = _frame([("improved_cnn", 0, 50.0, "gpu, jax", "other"), ("improved_cnn", 0, 91.0, "gpu, jax", "a2"),
                ("improved_cnn", 1, 51.0, "gpu, jax", "other"), ("improved_cnn", 1, 91.0, "gpu, jax", "a2"),
                ("cnn", 0, 90.0, "gpu, jax", "a2"), ("cnn", 1, 90.0, "gpu, jax", "a2")])
    out = report.paired_difference_same_env(f, "accuracy", "model", "improved_cnn", "cnn")
    assert out["difference"] == pytest.approx(1.0)


def test_margin_without_runs_of_a_setting_is_a_clear_error():
    f = _frame([("cnn", 0, 90.0, "gpu, jax", "a2")])
    with pytest.raises(ValueError, match="no runs with model == 'improved_cnn'"):
        report.paired_difference_same_env(f, "accuracy", "model", "improved_cnn", "cnn")


def test_curve_summary_hand_case_and_paper_claim_keys():
    from fashionlib import paper

    h = {"loss": [1.0, 0.6, 0.4, 0.3], "val_loss": [0.8, 0.5, 0.45, 0.5],
         "accuracy": [0.5, 0.7, 0.85, 0.9], "val_accuracy": [0.6, 0.8, 0.82, 0.83]}
    s = metrics.curve_summary(h)
    assert s == {"val_loss_below_train_share": 0.5, "val_acc_above_train_share": 0.5, "after_val_loss_min_share": 0.25,
                 "val_loss_min_epoch": 3, "accuracy_crossing_epoch": 3, "loss_crossing_epoch": 3}
    for claim in paper.JICT_CURVE_CLAIMS.values():
        assert claim["measure"] in s and 0 < claim["paper_value"] <= 1


def test_curve_claims_table_from_runs():
    rising = {"loss": [1.0, 0.8, 0.7, 0.6], "val_loss": [0.5, 0.6, 0.7, 0.8],
              "accuracy": [0.5, 0.6, 0.7, 0.8], "val_accuracy": [0.6, 0.7, 0.8, 0.9]}
    falling = {"loss": [1.0, 0.8, 0.7, 0.6], "val_loss": [0.9, 0.85, 0.8, 0.7],
               "accuracy": [0.5, 0.6, 0.9, 0.95], "val_accuracy": [0.6, 0.7, 0.8, 0.9]}
    frame = pd.DataFrame({"model": ["cnn", "cnn", "improved_cnn"], "seed": [0, 1, 0],
                          "history": [rising, falling, rising]})
    per_run, claims = report.curve_claims(frame, ["fig4_val_loss_rises", "fig5_val_loss_below_train",
                                                  "fig5_train_acc_below_val"])
    assert len(per_run) == 3
    fig4 = claims.iloc[0]
    assert fig4["n"] == 2 and fig4["holds"] == "no"  # the second CNN run never rises
    assert fig4["max"] == 0.75 and fig4["validation loss lowest (epoch)"] == "1-4"
    fig5_loss, fig5_acc = claims.iloc[1], claims.iloc[2]
    assert fig5_loss["holds"] == "no" and fig5_loss["mean"] == 0.5  # below training loss in 2 of 4 epochs only
    assert fig5_acc["holds"] == "yes" and fig5_acc["training passes validation accuracy (epoch)"] == "never in 1 of 1 runs"
    with pytest.raises(KeyError, match="unknown claim"):
        report.curve_claims(frame, ["fig9"])


# ---------------------------------------------------------------- the paper-profile runs ---
def _paper(stem):
    from fashionlib import book, parameters_cell

    declared = parameters_cell.declared_parameters(book.read_source(book.NOTEBOOK_DIR / f"{stem}.md"))
    return book.resolve(stem, declared, "paper")


def test_paper_profiles_are_the_full_settings_the_verdict_needs():
    a6 = _paper("a6_protocol")
    assert a6["models"] == ["improved_cnn", "improved_cnn_strided"] and len(set(a6["seeds"])) >= 5
    assert (a6["epochs"], a6["batch_size"], a6["lr"], a6["lr_end"], a6["schedule"], a6["optimizer"]) == \
        (50, 128, 1e-3, 1e-5, "paper", "adam")  # A1's setting
    assert a6["train_size"] == 48_000 and a6["save_models"]
    a3 = _paper("a3_batch_size")
    assert a3["batch_sizes"] == [32, 64, 128, 256, 512] and len(a3["seeds"]) >= 3 and a3["epochs"] == 50
    assert a3["save_models"] and a3["train_size"] == 48_000
    a4 = _paper("a4_lr_schedules")
    assert set(a4["schedules_to_compare"]) == {"paper", "constant", "exponential", "inverse_time", "cosine"}
    assert 0.1 in a4["lrs"] and a4["include_sgd"] and len(a4["seeds"]) >= 3 and a4["epochs"] == 50
    assert a4["save_models"] and a4["train_size"] == 48_000


def test_curve_and_margin_claims_read_histories_and_need_both_settings(tmp_path):
    from fashionlib import claims, results

    rising = {"loss": [1.0, 0.8, 0.7, 0.6], "val_loss": [0.5, 0.6, 0.7, 0.8],
              "accuracy": [0.5, 0.6, 0.7, 0.8], "val_accuracy": [0.6, 0.7, 0.8, 0.9]}
    runs = [{"setting": {"model": "cnn"}, "seed": s, "metrics": {"accuracy": 90.0 + s}, "history": rising}
            for s in (0, 1)]
    results.write_record("nb", {"profile": "paper"}, runs, results_dir_=tmp_path)
    curve = claims.Claim("A", "rises", "Fig. 4", "nb", "after_val_loss_min_share", 0.5, where={"model": "cnn"},
                         from_history=True)
    row = claims.claim_status(curve, tmp_path)
    assert (row["status"], row["value"], row["n"]) == ("reproduced", 0.75, 2)  # lowest at epoch 1 of 4
    margin = claims.Claim("A", "margin", "Table 2", "nb", "accuracy", 3.77, where={"model": ["improved_cnn", "cnn"]},
                          paired=("model", "improved_cnn", "cnn", ("seed",)))
    assert claims.claim_status(margin, tmp_path)["status"] == "setting not in the run"
    runs = [{"setting": {"model": m}, "seed": s, "metrics": {"accuracy": acc}}
            for m, s, acc in [("cnn", 0, 90.0), ("cnn", 1, 90.0), ("cnn", 2, 90.0),
                              ("improved_cnn", 0, 92.0), ("improved_cnn", 1, 92.5), ("improved_cnn", 2, 93.0)]]
    results.write_record("nb", {"profile": "paper"}, runs, results_dir_=tmp_path)
    row = claims.claim_status(margin, tmp_path)
    # differences 2, 2.5, 3: the whole 95% CI (2.5 +- 1.24) lies below the paper's 3.77
    assert (row["status"], row["value"], row["n"]) == ("not reproduced", 2.5, 3)
