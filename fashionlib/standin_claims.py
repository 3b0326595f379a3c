"""Study B's claims on the stand-in: the paired differences over seeds that test them, and their verdicts.

Study B's claims cannot be tested on the paper's data offline; the stand-in (B0's micro backbones on
long-tailed Fashion-MNIST, B2's runs) tests them as paired differences a - b over seeds.
:func:`standin_differences` is the one place those differences and their verdicts are computed: the
paper's claims (:data:`STANDIN_CLAIMS`) Holm-adjusted over their family, every other comparison judged
on its 95% CI (:func:`standin_verdict`).
"""

from __future__ import annotations

import pandas as pd

from . import report, results

# A stand-in row (a paired difference a - b): above zero, below zero, or neither shown (claims: Holm-adjusted
# p over the claim family; other rows: the 95% CI).
STANDIN_VERDICTS = ("supported on the stand-in", "contradicted on the stand-in", "not shown on the stand-in")


def standin_verdict(diff: dict) -> str:
    """The verdict on a paired difference a - b (:func:`report.paired_difference`) from its 95% CI (unadjusted)."""
    if diff["n"] < 2:
        return "not testable (one seed)"
    return (STANDIN_VERDICTS[0] if diff["ci_low"] > 0 else STANDIN_VERDICTS[1] if diff["ci_high"] < 0
            else STANDIN_VERDICTS[2])


ALPHA = 0.05
# The stand-in's claim family: the paper's sentences that the stand-in can test, judged on the held-out
# set with the training data's long-tailed class mix (``lt_accuracy``: the paper reports validation
# accuracy, and a validation split of its long-tailed data set has that mix), Holm-adjusted over the
# family; the same family on the balanced test set (balanced accuracy, macro-F1) beside it, each
# metric a family of its own. The comparison (a row of standin_differences, less its metric) -> the
# paper's sentence.
STANDIN_CLAIMS = {
    "EdgeNet on - off (claim backbones)": "integrating EdgeNet as a feature extractor significantly enhances "
                                        "model performance",
    "EdgeNet on - off (BEiT)": "particularly when combined with BeiT",
    "resample - none (Swin V2)": "data balancing positively influenced models such as Swin Transformer V2 and DeiT",
    "held-out - training accuracy (BEiT + EdgeNet + resample)": "validation accuracy is higher [than training "
                                                                "accuracy] ... the model generalizes well",
}
CLAIM_METRICS = ("lt_accuracy", "balanced_accuracy", "macro_f1")  # the verdict's metric first
UNTESTABLE = {"resample - none (DeiT)": "the micro DeiT is the micro ViT (same timm class and initial weights, "
                                        "no distillation token or teacher), so the stand-in has no DeiT"}


def _difference_row(d: dict, family: str, metric: str, pretrain_of: dict) -> dict:
    """A row of :func:`standin_differences` from a :func:`report.paired_difference` result (its verdict and
    Holm's p are added over the whole table)."""
    by_pre = {}
    for seed, diff in zip(d["seeds"], d["diffs"]):
        by_pre.setdefault(pretrain_of.get(seed), []).append(diff)
    return {"metric": metric, "family": family, "difference": d["difference"], "ci_low": d["ci_low"],
            "ci_high": d["ci_high"], "ci95": d["ci95"], "n": d["n"], "p": d["p"], "mean_a": d["mean_a"],
            "mean_b": d["mean_b"], "std": d["std"],
            "by_pretrain_seed": "; ".join(f"{k}: {sum(v) / len(v):+.2f} (n={len(v)})" for k, v in by_pre.items()
                                          if k is not None)}


def standin_differences(profile: str = "standin", results_dir=None, frame: pd.DataFrame | None = None
                        ) -> pd.DataFrame | None:
    """B2's claims as paired differences over seeds, from B2's newest ``profile`` record; None without one.
    ``frame``: that record's runs when the caller has read them already (``results.runs_frame``).

    The one place the stand-in's verdicts are computed (the B2 page and the intro read it). Every
    difference pairs the runs of one fine-tuning seed (they share a split, a test set and B0's weights of
    the pretraining seed that seed maps to); a seed is the unit, so the pretraining seed varies between
    units as a random factor (``by_pretrain_seed`` shows the mean difference within each).

    Rows (index ``"<comparison>: <metric>"``), columns metric, family, difference, ci_low, ci_high, ci95,
    n, p (paired t-test), p_holm, mde80 (the smallest true difference detected with 80% power: at
    alpha / m for a family of m claims, Bonferroni's bound on Holm's steps; at alpha otherwise),
    by_pretrain_seed, verdict:

    * ``family="claim: <metric>"``: :data:`STANDIN_CLAIMS` on each of :data:`CLAIM_METRICS`, Holm-adjusted
      within the metric; the verdict is supported / contradicted when the adjusted p is below
      :data:`ALPHA` (by the sign), else not shown. ``lt_accuracy`` gives the claim's verdict; the
      balanced test set's rows stand beside it. EdgeNet rows average the runs of a seed over the claim
      backbones (those run on every seed; B2's ``control_backbones`` run on fewer) and over {none,
      resample}; held-out - training compares ``lt_accuracy`` (``balanced_accuracy``) with the training
      accuracy of the same runs (macro-F1 has no training counterpart).
    * ``family="exploratory"``: EdgeNet per backbone family, resampling for the other families, every
      other balancing method - none (EdgeNet on), pretrained - scratch; unadjusted, verdict from the 95% CI.
    """
    if frame is None:
        frame = results.runs_frame("b2_backbones", profile, results_dir_=results_dir)
    if frame.empty:
        return None
    if "lt_accuracy" not in frame.columns:
        raise KeyError(f"the b2_backbones record of profile {profile!r} has no 'lt_accuracy' (an older record, "
                       "tested on the balanced set only). Fix: run B2 again (python -m fashionlib run b2_backbones "
                       f"--profile {profile}).")
    pretrain_of = dict(zip(frame["seed"], frame["pretrain_seed"])) if "pretrain_seed" in frame.columns else {}
    families = list(dict.fromkeys(frame["family"]))
    core = frame[frame["balance"].isin(["none", "resample"])]
    # the claim backbones: those run on every seed (the control, B2's control_backbones, runs on fewer)
    every = core.groupby("backbone")["seed"].nunique() == core["seed"].nunique()
    claim_core = core[core["backbone"].isin(every[every].index)]
    on = frame[frame["edgenet"].astype(bool)]
    rows = {}

    def add(key, family, metric, d):
        rows[f"{key}: {metric}"] = _difference_row(d, family, metric, pretrain_of)

    both_edgenet = {True, False} <= set(core["edgenet"])
    for metric in CLAIM_METRICS:
        fam = f"claim: {metric}"
        if both_edgenet:
            add("EdgeNet on - off (claim backbones)", fam, metric, report.paired_difference(
                claim_core, metric, "edgenet", True, False, average_over=("backbone", "balance")))
            if "BEiT" in families:
                add("EdgeNet on - off (BEiT)", fam, metric, report.paired_difference(
                    core[core["family"] == "BEiT"], metric, "edgenet", True, False, average_over=("balance",)))
        if "Swin V2" in families and {"none", "resample"} <= set(on["balance"]):
            add("resample - none (Swin V2)", fam, metric, report.paired_difference(
                on[on["family"] == "Swin V2"], metric, "balance", "resample", "none"))
        paper_runs = on[(on["family"] == "BEiT") & (on["balance"] == "resample")]
        if metric != "macro_f1" and not paper_runs.empty:
            long = pd.concat([paper_runs.assign(which="held-out", value=paper_runs[metric]),
                              paper_runs.assign(which="training", value=paper_runs["train_accuracy"])])
            add("held-out - training accuracy (BEiT + EdgeNet + resample)", fam, metric,
                report.paired_difference(long, "value", "which", "held-out", "training"))
    for metric in CLAIM_METRICS[:2]:
        if both_edgenet:
            for f in families:
                if f != "BEiT":
                    add(f"EdgeNet on - off ({f})", "exploratory", metric, report.paired_difference(
                        core[core["family"] == f], metric, "edgenet", True, False, average_over=("balance",)))
        for f in families:
            sub = on[on["family"] == f]
            for bal in [b for b in dict.fromkeys(sub["balance"]) if b != "none"]:
                if (bal, f) == ("resample", "Swin V2") or "none" not in set(sub["balance"]):
                    continue
                seeds = set(sub.loc[sub["balance"] == bal, "seed"])
                add(f"{bal} - none ({f})", "exploratory", metric, report.paired_difference(
                    sub[sub["seed"].isin(seeds)], metric, "balance", bal, "none"))
    record = results.load_records("b2_backbones", profile, results_dir_=results_dir)[-1]
    scratch = pd.DataFrame(record.get("extras", {}).get("scratch_control") or [])
    if not scratch.empty:
        scratch = scratch.assign(family=scratch["backbone"].map(dict(zip(frame["backbone"], frame["family"]))),
                                 **{c: frame[c].iloc[0] for c in ("profile", "device", "commit")})
        for f in families:
            pre = on[(on["family"] == f) & (on["balance"] == scratch["balance"].iloc[0])]
            pre = pre[pre["seed"].isin(set(scratch["seed"]))]
            both = pd.concat([pre.assign(init="pretrained"), scratch[scratch["family"] == f]], ignore_index=True)
            for metric in CLAIM_METRICS[:2]:
                add(f"pretrained - scratch ({f})", "exploratory", metric,
                    report.paired_difference(both, metric, "init", "pretrained", "scratch"))
    table = pd.DataFrame(rows).T
    table["p_holm"] = float("nan")
    table["mde80"] = float("nan")
    for fam, idx in table.groupby("family").groups.items():
        claim = fam.startswith("claim")
        if claim:
            table.loc[idx, "p_holm"] = report.holm(table.loc[idx, "p"].astype(float))
        alpha = ALPHA / len(idx) if claim else ALPHA
        table.loc[idx, "mde80"] = [report.min_detectable_difference(float(sd), int(n), alpha=alpha)
                                   for sd, n in zip(table.loc[idx, "std"], table.loc[idx, "n"])]
    table["verdict"] = [_row_verdict(r) for _, r in table.iterrows()]
    for c in ("difference", "ci_low", "ci_high", "ci95", "p", "p_holm", "mde80", "mean_a", "mean_b", "std"):
        table[c] = table[c].astype(float)
    table["n"] = table["n"].astype(int)
    return table


def _row_verdict(row) -> str:
    """A row's verdict: a claim row by its Holm-adjusted p, any other row by its 95% CI."""
    if row["n"] < 2:
        return "not testable (one seed)"
    if row["family"].startswith("claim"):
        if row["p_holm"] < ALPHA:
            return STANDIN_VERDICTS[0] if row["difference"] > 0 else STANDIN_VERDICTS[1]
        return STANDIN_VERDICTS[2]
    return standin_verdict(row)
