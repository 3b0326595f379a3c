"""paper_tables: study A's paper tables (Table 1, Table 2, the margin over the baselines) beside ours."""

import pandas as pd
import pytest

from fashionlib import paper, paper_tables


def _runs(model, env, accs):
    return [{"model": model, "env": env, "seed": s, "accuracy": a, "record": f"{model}.json", "profile": "paper",
             "device": env.split(",")[0], "commit": "abc"} for s, a in enumerate(accs)]


def test_margins_pair_in_one_environment_and_say_why_not_otherwise():
    committed = pd.DataFrame(_runs("improved_cnn", "gpu, jax", [92.0, 93.0, 91.0]) + _runs("cnn", "gpu, jax", [90.0, 90.5, 90.0])
                             + _runs("lenet5", "cpu, tensorflow", [89.0, 89.0]))
    t = paper_tables.margin_table(committed)
    assert list(t.index) == ["improved CNN minus " + paper.JICT_MODEL_LABELS[m] for m in ("cnn", "lenet5", "lstm", "bilstm")]
    cnn = t.iloc[0]
    assert cnn["reproduced (paired)"] == pytest.approx(round((2.0 + 2.5 + 1.0) / 3, 2)) and cnn["n pairs"] == 3
    assert cnn["status"] == "paired on gpu, jax" and cnn["paper (abstract)"] == paper.JICT_HEADLINE["abstract_gain_over_cnn"]
    assert cnn["paper (Table 2)"] == round(paper.JICT_TABLE2["improved_cnn"]["accuracy"] - paper.JICT_TABLE2["cnn"]["accuracy"], 2)
    assert t.iloc[1]["status"].startswith("not comparable: improved_cnn ran on gpu, jax; lenet5 on cpu, tensorflow")
    assert list(t["status"][2:]) == ["no committed paper-profile runs of both"] * 2
    assert pd.isna(t.iloc[1]["paper (abstract)"])


def test_no_committed_runs_leaves_every_margin_unmeasured():
    t = paper_tables.margin_table(pd.DataFrame())
    assert set(t["status"]) == {"no committed paper-profile runs of both"} and "reproduced (paired)" not in t


def test_table2_rows_compare_each_models_accuracy_and_loss_with_its_paper_row():
    frame = pd.DataFrame(_runs("improved_cnn_strided", "cpu, tf", [92.0, 94.0]) + _runs("cnn", "cpu, tf", [90.0, 91.0]))
    frame["loss"] = [0.2, 0.3, 0.25, 0.35]
    rows = paper_tables.table2_rows(frame, {"improved_cnn_strided": "stride"}, {"improved_cnn_strided": "improved_cnn"})
    assert list(rows) == [("stride", "accuracy"), ("stride", "loss"), ("cnn", "accuracy"), ("cnn", "loss")]
    assert rows[("stride", "accuracy")]["paper"] == paper.JICT_TABLE2["improved_cnn"]["accuracy"]
    assert rows[("stride", "accuracy")]["mean"] == pytest.approx(93.0) and rows[("stride", "accuracy")]["n"] == 2
    assert rows[("cnn", "loss")]["paper"] == paper.JICT_TABLE2["cnn"]["loss"]
    assert rows[("cnn", "loss")]["mean"] == pytest.approx(0.3)


def test_every_table1_layer_has_both_readings_outputs_and_parameters():
    pytest.importorskip("keras")
    from fashionlib import keras_models

    default, strided = keras_models.build_model("improved_cnn"), keras_models.build_model("improved_cnn_strided")
    t = paper_tables.table1_readings(default, strided)
    assert list(t.index) == [row["layer"] for row in paper.JICT_TABLE1]
    assert list(t["paper output"]) == [row["output"] for row in paper.JICT_TABLE1]
    assert t.loc["I", "default output"] == t.loc["I", "strided output"] == "28x28x1"
    assert t.loc["I", "default params"] == 0
    assert t["default params"].sum() == default.count_params(), "every layer with weights is a Table 1 row"
    assert t["strided params"].sum() == strided.count_params()
    assert t["default output"].ne(t["strided output"]).any(), "the two readings differ in some output size"


def test_table4_rows_carry_the_papers_value_at_its_precision():
    bs = list(paper.JICT_TABLE4)[0]
    frame = pd.DataFrame([{"batch_size": b, "seed": s, "accuracy": 90.0 + s, "loss": 0.3, "auc_micro": 0.99,
                           "auc_macro": 0.98, "profile": "smoke", "device": "cpu", "commit": "abc"}
                          for b in (bs, 7) for s in range(2)])
    t = paper_tables.table4(frame)
    assert len(t) == 8 and list(t.index[:4]) == [f"{bs}, {m}" for m in ("accuracy", "loss", "auc_micro", "auc_macro")]
    assert t.loc[f"{bs}, accuracy", "paper"] == f"{paper.JICT_TABLE4[bs]['accuracy']:.2f}"
    assert t.loc[f"{bs}, auc_micro", "paper"] == f"{paper.JICT_TABLE4[bs]['auc']:.4f}"
    assert t.loc[f"{bs}, auc_macro", "paper"] == "" and t.loc["7, accuracy", "paper"] == ""
    assert paper_tables.table4_value((bs,), "auc_micro") == paper.JICT_TABLE4[bs]["auc"]
    assert paper_tables.table4_value((7,), "accuracy") is None


def _settings_frame():
    rows = [("improved_cnn_strided", 0.0001, True, [92.0, 93.0], [91.0, 91.4], [93.0, 94.0]),  # not sorted: kept as met
            ("improved_cnn", 0.0001, False, [90.0, 91.0], [92.0, 92.2], [95.0, 96.0])]
    return pd.DataFrame([{"model": m, "lr_end": e, "augment": a, "seed": s, "accuracy": acc[s], "val_accuracy": val[s],
                          "train_accuracy": tr[s], "profile": "smoke", "device": "cpu", "commit": "abc"}
                         for m, e, a, acc, val, tr in rows for s in (0, 1)])


def test_setting_rows_compare_each_settings_test_accuracy_with_the_paper():
    rows = paper_tables.setting_rows(_settings_frame(), ["model", "lr_end", "augment"], 92.87)
    assert list(rows) == ["improved_cnn_strided, 0.0001, True", "improved_cnn, 0.0001, False"]
    strided = rows["improved_cnn_strided, 0.0001, True"]
    assert (strided["mean"], strided["n"], strided["difference"]) == (92.5, 2, pytest.approx(92.5 - 92.87))


def test_selection_table_puts_validation_first_and_marks_the_chosen_setting():
    frame, setting = _settings_frame(), ["model", "lr_end", "augment"]
    rows = paper_tables.setting_rows(frame, setting, 92.87)
    t = paper_tables.selection_table(frame, setting, rows, ("improved_cnn", 0.0001, False))
    assert t.index.name == "model, lr_end, augment: test accuracy (%)"
    assert t.columns[0] == "validation accuracy (mean, %)" and list(t.iloc[:, 0]) == ["91.20", "92.10"]
    assert list(t["last-epoch training accuracy (%)"]) == ["93.50", "95.50"]
    assert list(t["chosen on validation"]) == [False, True] and list(t["mean"]) == ["92.50", "90.50"]


def _evidence():
    return pd.DataFrame([{"model": m, "seed": s, "epochs": 50, "accuracy": a, "loss": 0.3, "profile": "paper",
                          "device": "gpu0", "commit": "abcdef123456"}
                         for m, accs in {"cnn": [92.0, 92.2], "lenet5": [80.0, 80.2], "lstm": [89.9, 90.1],
                                         "improved_cnn": [93.0, 93.2]}.items() for s, a in enumerate(accs)])


BASE_LABELS = [paper.JICT_MODEL_LABELS[m] for m in ("cnn", "lenet5", "lstm", "bilstm")]


def test_baseline_standing_sorts_the_baselines_by_their_distance_from_table2():
    evidence = _evidence()
    acc = paper_tables.baseline_accuracy(evidence, paper.JICT_MODEL_LABELS, {}, BASE_LABELS)
    assert list(acc.index) == [paper.JICT_MODEL_LABELS[m] for m in ("cnn", "lenet5", "lstm")]  # no improved CNN
    assert acc.loc[paper.JICT_MODEL_LABELS["cnn"], "mean"] == pytest.approx(92.1)
    # tolerance chosen from the paper's own values, so that each baseline falls on a known side
    diff = {m: acc.loc[paper.JICT_MODEL_LABELS[m], "difference"] for m in ("cnn", "lenet5", "lstm")}
    tol = sorted(abs(d) for d in diff.values())[1] + 1e-9  # the two nearest within, the farthest outside
    out = paper_tables.baseline_standing(evidence, acc, tol)
    assert out["a2_paper_setting"] == "50 epochs, 2 seeds, gpu0, commit abcdef1"
    far = max(diff, key=lambda m: abs(diff[m]))
    assert out["a2_paper_above" if diff[far] > 0 else "a2_paper_below"] == paper.JICT_MODEL_LABELS[far]
    assert out["a2_paper_below" if diff[far] > 0 else "a2_paper_above"] == "none"
    assert out["a2_paper_within"].split(", ") == [paper.JICT_MODEL_LABELS[m] for m in diff if m != far]
    empty = pd.DataFrame()
    assert paper_tables.baseline_standing(empty, paper_tables.baseline_accuracy(empty, {}, {}, BASE_LABELS), 1.5) == \
        dict.fromkeys(["a2_paper_setting", "a2_paper_within", "a2_paper_above", "a2_paper_below"],
                      "(no committed paper-profile run)")


def test_margin_over_best_baseline_compares_the_improved_cnn_with_the_best_baseline():
    evidence = _evidence()
    acc = paper_tables.baseline_accuracy(evidence, paper.JICT_MODEL_LABELS, {}, BASE_LABELS)
    margin = paper_tables.margin_over_best_baseline(acc, evidence)
    best_paper = max(paper.JICT_TABLE2[m]["accuracy"] for m in paper_tables.BASELINES)
    assert list(margin.loc["paper"]) == pytest.approx(
        [paper.JICT_TABLE2["improved_cnn"]["accuracy"], best_paper, paper.JICT_TABLE2["improved_cnn"]["accuracy"] - best_paper])
    assert list(margin.loc["reproduced (paper profile)"]) == pytest.approx([93.1, 92.1, 1.0])
    assert pd.isna(paper_tables.margin_over_best_baseline(acc, pd.DataFrame()).iloc[1, 0])
    assert paper_tables.margin_over_best_baseline(pd.DataFrame(), evidence) is None


def test_seed_diagnostics_table_adds_the_test_loss_and_seed_0s_training_diagnostics():
    frames = {k: pd.DataFrame({"accuracy": acc, "loss": [0.5, 0.7], "profile": "smoke", "device": "cpu", "commit": "abc"})
              for k, acc in (("a", [90.0, 91.0]), ("b", [80.0, 82.0]))}
    runs = {k: [{"history": pd.DataFrame({"loss": [first, 0.1], "val_accuracy": [best, 0.4]})},
                {"history": pd.DataFrame({"loss": [9.0], "val_accuracy": [0.99]})}]
            for k, first, best in (("a", 2.34567, 0.9), ("b", 1.5, 0.8))}
    t = paper_tables.seed_diagnostics_table([("A", "a", 92.87), ("B", "b", None)], frames, runs)
    assert list(t.index) == ["A", "B"] and list(t["mean"]) == ["90.50", "81.00"] and list(t["paper"]) == ["92.87", ""]
    assert list(t["test loss"]) == ["0.60", "0.60"]
    assert list(t["first-epoch training loss (seed 0)"]) == ["2.35", "1.5"]
    assert list(t["best validation accuracy (seed 0, %)"]) == ["90.00", "80.00"]
