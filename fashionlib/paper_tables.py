"""Study A's paper tables beside ours: Table 1 (layers), Table 2 (accuracy and loss per model) and the
improved CNN's margin over the baselines (Table 2 and the abstract).

Table 1's stride and output-size columns disagree; ``improved_cnn`` follows the output sizes,
``improved_cnn_strided`` the strides (:func:`table1_readings`). The margin pairs the two models' runs
over the same seeds, trained on the same backend and device (``report.paired_difference_same_env``);
where no environment holds both, the row says so instead of subtracting (:func:`margin_table`).
"""

from __future__ import annotations

from . import paper, report

BASELINES = ("cnn", "lenet5", "lstm", "bilstm")


def table1_readings(default, strided):
    """Table 1, one row per layer: the paper's stride, output and dropout, and each reading's output shape
    and parameters (the input layer "I": 28x28x1, none); ``default``, ``strided``: the built
    ``improved_cnn`` and ``improved_cnn_strided`` Keras models."""
    import pandas as pd

    from . import keras_models  # Keras starts here, after the notebook has chosen its backend

    t_def = keras_models.layer_table(default).set_index("layer")
    t_str = keras_models.layer_table(strided).set_index("layer")
    rows = []
    for row in paper.JICT_TABLE1:
        name = row["layer"]
        rows.append({
            "layer": name, "type": row["type"],
            "paper stride": row["stride"], "paper output": row["output"], "paper dropout": row["dropout"],
            "default output": t_def["output"].get(name, "28x28x1" if name == "I" else None),
            "default params": int(t_def["params"].get(name, 0)),
            "strided output": t_str["output"].get(name, "28x28x1" if name == "I" else None),
            "strided params": int(t_str["params"].get(name, 0)),
        })
    return pd.DataFrame(rows).set_index("layer")


def table2_rows(frame, labels: dict, paper_keys: dict) -> dict:
    """Table 2's rows from a runs frame: ``(label, metric) -> report.compare(...)`` for accuracy and loss of
    each model (in the frame's order) against the paper's value. ``labels``: model -> its Table 2 label;
    ``paper_keys``: model -> the Table 2 row it is compared with (a model missing from either: itself)."""
    return {(labels.get(m, m), metric): report.compare(runs[metric], paper.JICT_TABLE2[paper_keys.get(m, m)][metric],
                                                       runs)
            for m, runs in frame.groupby("model", sort=False) for metric in ("accuracy", "loss")}


def margin_table(committed, baselines=BASELINES):
    """One row per baseline, indexed "improved CNN minus <baseline>": the paper's margins (Table 2, and the
    abstract's for the CNN), ours (``reproduced (paired)``, ``n pairs``, ``95% CI``) and a ``status``.

    ``committed``: runs (``results.runs_frame`` columns: model, seed, accuracy, record) with an ``env``
    column naming where each run was trained; may be empty.
    """
    import pandas as pd

    margins = []
    for base in baselines:
        row = {"": f"improved CNN minus {paper.JICT_MODEL_LABELS[base]}", "paper (Table 2)": round(
            paper.JICT_TABLE2["improved_cnn"]["accuracy"] - paper.JICT_TABLE2[base]["accuracy"], 2),
            "paper (abstract)": paper.JICT_HEADLINE["abstract_gain_over_cnn"] if base == "cnn" else None}
        if committed.empty or not {"improved_cnn", base} <= set(committed["model"]):
            margins.append({**row, "status": "no committed paper-profile runs of both"})
            continue
        diff = report.paired_difference_same_env(committed, "accuracy", "model", "improved_cnn", base)
        if not diff["comparable"]:
            margins.append({**row, "status": f"not comparable: {diff['reason']}"})
            continue
        margins.append({**row, "reproduced (paired)": round(diff["difference"], 2), "n pairs": diff["n"],
                        "95% CI": f"[{diff['ci_low']:.2f}, {diff['ci_high']:.2f}]", "status": f"paired on {diff['env']}"})
    return pd.DataFrame(margins).set_index("")



def baseline_accuracy(evidence, labels: dict, paper_keys: dict, baselines: list[str]):
    """Table 2's accuracy rows (:func:`table2_rows`) of the ``baselines`` (their Table 2 labels), one row each,
    from the runs ``evidence``; empty when there are none."""
    import pandas as pd

    if not len(evidence):
        return pd.DataFrame()
    return pd.DataFrame({label: r for (label, metric), r in table2_rows(evidence, labels, paper_keys).items()
                         if metric == "accuracy" and label in baselines}).T


def _names(index) -> str:
    return ", ".join(index) if len(index) else "none"


def baseline_standing(evidence, acc, tolerance: float) -> dict:
    """A2's page values on its baselines: the setting of the runs ``evidence`` (epochs, seeds, device,
    commit), and which baselines of ``acc`` (:func:`baseline_accuracy`) lie within ``tolerance`` points of
    Table 2, above it or below it; each "(no committed paper-profile run)" without evidence."""
    keys = ("a2_paper_setting", "a2_paper_within", "a2_paper_above", "a2_paper_below")
    if not len(evidence):
        return dict.fromkeys(keys, "(no committed paper-profile run)")
    setting = (f"{int(evidence['epochs'].iloc[0])} epochs, {evidence['seed'].nunique()} seeds, "
               f"{acc['device'].iloc[0]}, commit {acc['commit'].iloc[0][:7]}")
    diff = acc["difference"]
    return dict(zip(keys, (setting, _names(acc.index[diff.abs() <= tolerance]), _names(acc.index[diff > tolerance]),
                           _names(acc.index[diff < -tolerance]))))


def margin_over_best_baseline(acc, improved):
    """The improved CNN's accuracy, the best baseline's and the margin between them (points), in the paper
    (Table 2) and reproduced: the best mean of ``acc`` (:func:`baseline_accuracy`) and the mean of the
    ``improved_cnn`` runs of ``improved`` (a1's paper-profile runs; NaN when empty). None when ``acc`` is empty."""
    import pandas as pd

    if acc.empty:
        return None
    best_paper = max(paper.JICT_TABLE2[m]["accuracy"] for m in BASELINES)
    ours = float(improved.loc[improved["model"] == "improved_cnn", "accuracy"].mean()) if len(improved) else float("nan")
    margin = pd.DataFrame({"improved CNN": [paper.JICT_TABLE2["improved_cnn"]["accuracy"], ours],
                           "best baseline": [best_paper, float(acc["mean"].max())]},
                          index=["paper", "reproduced (paper profile)"])
    margin["margin (points)"] = margin["improved CNN"] - margin["best baseline"]
    return margin



def seed_diagnostics_table(settings, frames: dict, runs: dict):
    """A4's table: test accuracy per setting (:func:`report.compare`, the paper's two decimals) with its mean
    test loss and seed 0's training diagnostics (first-epoch training loss, best validation accuracy).

    ``settings``: ``(label, key, paper value or None)``; ``frames``: key -> the record rows of that setting's
    seeds; ``runs``: key -> its :func:`keras_runs.run_many` results (seed 0 first), each with a ``history``."""
    t = report.compare_table({label: report.compare(frames[k]["accuracy"], pv, frames[k]) for label, k, pv in settings})
    first = [runs[k][0]["history"] for _, k, _ in settings]
    t["test loss"] = [f"{frames[k]['loss'].mean():.2f}" for _, k, _ in settings]
    t["first-epoch training loss (seed 0)"] = [f"{h['loss'].iloc[0]:.3g}" for h in first]
    t["best validation accuracy (seed 0, %)"] = [f"{100 * h['val_accuracy'].max():.2f}" for h in first]
    return t

# Table 4 (batch sizes): our metric -> (Table 4's column, or None where it has none; the digits it prints).
TABLE4_METRICS = {"accuracy": ("accuracy", 2), "loss": ("loss", 4), "auc_micro": ("auc", 4), "auc_macro": (None, 4)}
TABLE4_DIGITS = {m: digits for m, (_, digits) in TABLE4_METRICS.items()}


def table4_value(key: tuple, metric: str):
    """The paper's Table 4 value of ``metric`` for the batch size ``key[0]`` (None where it gives none)."""
    return paper.JICT_TABLE4.get(key[0], {}).get(TABLE4_METRICS[metric][0])


def table4(frame):
    """Table 4 beside ours: one compare row per batch size and metric, at the paper's precision."""
    return report.compare_table(report.compare_groups(frame, TABLE4_DIGITS, by=["batch_size"],
                                                      paper_values=table4_value))


def setting_rows(frame, setting: list[str], paper_value: float) -> dict:
    """Test accuracy of each group of ``frame``'s runs by the ``setting`` columns, in the order first met:
    :func:`report.compare` against ``paper_value``, keyed by the setting's values joined with ", "."""
    return {", ".join(map(str, key)): report.compare(runs["accuracy"], paper_value, runs)
            for key, runs in frame.groupby(setting, sort=False)}


def selection_table(frame, setting: list[str], rows: dict, chosen: tuple):
    """A5's selection: each setting's test accuracy (``rows``, :func:`setting_rows`) after its mean
    validation accuracy, with its mean last-epoch training accuracy and whether it is ``chosen`` (the
    setting :func:`report.best_group` picked on validation)."""
    table = report.compare_table(rows, f"{', '.join(setting)}: test accuracy (%)")
    by_group = frame.groupby(setting, sort=False)
    table.insert(0, "validation accuracy (mean, %)", [f"{v:.2f}" for v in by_group["val_accuracy"].mean()])
    table["last-epoch training accuracy (%)"] = [f"{v:.2f}" for v in by_group["train_accuracy"].mean()]
    table["chosen on validation"] = [tuple(key) == chosen for key, _ in by_group]
    return table
