"""The improved CNN's margin over the paper's baselines, paired on equal terms.

The paper's Table 2 and abstract give the margin; ours pairs the two models' runs over the same seeds,
trained on the same backend and device (``report.paired_difference_same_env``). Where no environment
holds both, the row says so instead of subtracting across backends or devices.
"""

from __future__ import annotations

from . import paper, report

BASELINES = ("cnn", "lenet5", "lstm", "bilstm")


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
