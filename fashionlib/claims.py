"""The papers' headline claims and their reproduction status, read from the runs of the results records.

A claim names a notebook, a metric (a column of ``results.runs_frame``) and the runs it is measured on
(setting filters, or the setting chosen on validation). Its status comes from the newest record of the
preferred profile: only a ``paper``-profile record gives a verdict; a ``cpu`` or ``smoke`` record is a
reduced run and says so. The verdict rule (:func:`tolerance_rule`): the reproduced mean within the
claim's tolerance of the paper's value is "reproduced"; outside it, the whole 95% CI must lie outside too
for "not reproduced" (or "above the paper"), else the claim is "inconclusive" (more seeds would decide). Study B's claims cannot be tested on the paper's data offline; they are
tested on the stand-in (its ``standin`` profile) as paired differences, and their status says so. The
tolerance of the Table 2 baselines (:data:`TOLERANCE`) lives here only.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Callable

import pandas as pd

from . import paper, profiles, report, results

TOLERANCE = 1.5  # points: a Table 2 baseline counts as reproduced within this distance of the paper, both ways
PROFILE_PREFERENCE = ("paper", "cpu", "smoke")  # the profiles whose records a claim reads, preferred first
STANDIN_PROFILE_PREFERENCE = ("standin", "cpu", "smoke")  # the same for study B's stand-in claims
FULL_PROFILE_NAMES = ("paper", "standin")  # the full-setting profiles: only their records give a verdict
TOLERANCE_VERDICTS = ("reproduced", "not reproduced", "inconclusive", "above the paper", "measured")
# A stand-in row (a paired difference a - b): above zero, below zero, or neither shown (claims: Holm-adjusted
# p over the claim family; other rows: the 95% CI).
STANDIN_VERDICTS = ("supported on the stand-in", "contradicted on the stand-in", "not shown on the stand-in")


@dataclass(frozen=True)
class Claim:
    """A headline claim of a paper and the runs that check it.

    ``metric``: the runs_frame column (None: nothing to measure, see ``offline_reason``). ``where``:
    setting column -> value, list of values, or a predicate on the column. ``choose_on``/``group``:
    among the groups of ``group`` columns, take the one with the highest mean ``choose_on`` (a choice on
    validation). ``paired``: ``(by, a, b, pair_on)`` measures the paired difference a - b instead of a
    mean. Reproduced when the mean reaches ``paper_value - tolerance``; with ``two_sided`` a mean beyond
    ``paper_value + tolerance`` is "above the paper". ``digits``: the paper's precision. ``chance``: the
    row also says how likely one more run is to reach ``paper_value`` (normal fit over the seeds, and the
    share of seeds that did).
    """

    paper: str
    claim: str
    reference: str
    notebook: str
    metric: str | None
    paper_value: float | None = None
    tolerance: float = 0.0
    two_sided: bool = False
    digits: int = 2
    where: dict = field(default_factory=dict)
    choose_on: str | None = None
    group: tuple = ()
    paired: tuple | None = None
    average_over: tuple = ()
    standin: bool = False
    standin_row: str = ""  # the row of :func:`standin_differences` that gives a stand-in claim's value and verdict
    offline_reason: str = ""
    from_history: bool = False  # ``metric`` is a key of metrics.curve_summary, computed from each run's history
    chance: bool = False  # also estimate the chance that one run reaches ``paper_value`` (report.chance_at_least)
    note: str = ""  # shown beside the row: what the number is (e.g. "diagnostic: chosen on the test set")


def claim_status(claim: Claim, results_dir=None, full_only: bool = False) -> dict:
    """Evaluate one claim from the runs of the newest record of the preferred profile.

    ``full_only``: read only the full-setting profiles (:data:`FULL_PROFILE_NAMES`), so that a claim without a
    full-setting record is "not run yet" rather than a reduced run's number (the front page's table).

    Returns paper, claim, reference, paper_value, value, ci95, n, status, profile, notebook, record, note,
    digits, chance (``report.chance_at_least`` of the runs against ``paper_value`` for a ``chance`` claim,
    else None). A metric or setting missing from the runs is an error (a renamed key must not read as "not
    run yet"); a NaN value has its own status. A claim with runs is judged in one of two regimes: a
    stand-in claim by :func:`_standin_status`, every other claim by :func:`_tolerance_status`.
    """
    out = {"paper": claim.paper, "claim": claim.claim, "reference": claim.reference,
           "paper_value": claim.paper_value, "value": math.nan, "ci95": math.nan, "n": 0, "status": "",
           "profile": "", "notebook": claim.notebook, "record": "",
           "note": "; ".join(t for t in (claim.offline_reason, claim.note) if t), "digits": claim.digits,
           "chance": None}
    frame = _newest_runs(claim, results_dir, full_only)
    if claim.standin and not frame.empty:
        return _standin_status(claim, out, frame, results_dir)
    if claim.metric is None or (frame.empty and claim.offline_reason and not claim.standin):
        out["status"] = "not reproducible offline"
    elif frame.empty:
        out["status"] = "not run yet"
    else:
        return _tolerance_status(claim, out, frame)
    return out


def _newest_runs(claim: Claim, results_dir, full_only: bool) -> pd.DataFrame:
    """The runs of the newest record of the first profile in the claim's preference order that has one
    (empty: none)."""
    frame = pd.DataFrame()
    for profile in STANDIN_PROFILE_PREFERENCE if claim.standin else PROFILE_PREFERENCE:
        if full_only and profile not in FULL_PROFILE_NAMES:
            continue
        frame = results.runs_frame(claim.notebook, profile, results_dir_=results_dir)
        if not frame.empty:
            break
    return frame


def _tolerance_status(claim: Claim, out: dict, frame: pd.DataFrame) -> dict:
    """A claim judged against the paper's value (study A's regime): the mean of its runs, or their paired
    difference, by :func:`tolerance_verdict`; only a ``paper``-profile record gives a verdict.

    Called for a claim that is not a stand-in claim and has a metric and runs (``frame``)."""
    out.update(profile=frame["profile"].iloc[0], record=frame["record"].iloc[0])
    rows = _claim_runs(claim, frame)
    if rows.empty:
        out["status"] = "setting not in the run"
        return out
    if claim.paired is not None and not {claim.paired[1], claim.paired[2]} <= set(rows[claim.paired[0]]):
        out["status"] = "setting not in the run"  # e.g. the record trained the baselines without the improved CNN
        return out
    out.update(_measure(claim, rows))
    if claim.offline_reason:
        out["status"] = "not reproducible offline"
    elif rows[claim.metric].isna().any() or math.isnan(out["value"]):
        out["status"] = "no valid value"
    elif out["profile"] != "paper":
        out["status"] = "reduced run"
    elif claim.paper_value is None:
        out["status"] = "measured"
    else:
        out["status"] = tolerance_verdict(out["value"], out["ci95"], claim.paper_value, claim.tolerance,
                                          claim.two_sided)
    return out


def _claim_runs(claim: Claim, frame: pd.DataFrame) -> pd.DataFrame:
    """The runs a claim is measured on: its ``where`` settings, then the group chosen on ``choose_on``; a
    ``from_history`` metric is computed from each run's history first."""
    if claim.from_history:  # the Fig. 4/5 descriptions: a fact about each run's per-epoch curves
        from . import metrics

        frame = frame.assign(**{claim.metric: [math.nan if h is None else metrics.curve_summary(h)[claim.metric]
                                               for h in frame["history"]]})
    if claim.metric not in frame.columns:
        raise KeyError(f"claim {claim.claim!r}: metric '{claim.metric}' is not in the runs of "
                       f"{frame['record'].iloc[0]} (columns: {', '.join(frame.columns)}); update the claim in fashionlib/claims.py.")
    mask = pd.Series(True, index=frame.index)
    for col, want in claim.where.items():
        if col not in frame.columns:
            raise KeyError(f"claim {claim.claim!r}: setting '{col}' is not a column of {claim.notebook}'s runs "
                           f"(columns: {', '.join(frame.columns)}); update the claim in fashionlib/claims.py.")
        if callable(want):
            mask &= frame[col].map(want).astype(bool)
        elif isinstance(want, (list, tuple, set)):
            mask &= frame[col].isin(list(want))
        else:
            mask &= frame[col] == want
    rows = frame[mask]
    if claim.choose_on is not None and not rows.empty:
        best = report.best_group(rows, claim.group, claim.choose_on)
        rows = rows[(rows[list(claim.group)] == pd.Series(best, index=list(claim.group))).all(axis=1)]
    return rows


def _measure(claim: Claim, rows: pd.DataFrame) -> dict:
    """value, ci95 and n of a claim's runs (the mean, or the paired difference a - b), and for a ``chance``
    claim the chance that one run reaches the paper's value."""
    if claim.paired is not None:
        by, a, b, pair_on = claim.paired
        stats = report.paired_difference(rows, claim.metric, by, a, b, pair_on=pair_on,
                                         average_over=claim.average_over, digits=claim.digits)
        return {"value": stats["difference"], "ci95": stats["ci95"], "n": stats["n"]}
    stats = report.compare(rows[claim.metric], claim.paper_value, rows, digits=claim.digits)
    measured = {"value": stats["mean"], "ci95": stats["ci95"], "n": stats["n"]}
    if claim.chance and claim.paper_value is not None and not rows[claim.metric].isna().any():
        measured["chance"] = report.chance_at_least(rows[claim.metric], claim.paper_value)
    return measured


def tolerance_rule(claims: list[Claim] | None = None) -> str:
    """The verdict rule in words (Markdown), with each claim's tolerance as :data:`CLAIMS` sets it."""
    bands = {}
    for c in CLAIMS if claims is None else claims:
        if c.tolerance and c.paper_value is not None:
            bands.setdefault((c.tolerance, c.two_sided), []).append(short_claim(c.claim))
    listed = "; ".join(f"{', '.join(names)}: {tol:g}" + (" either way" if two else " below")
                       for (tol, two), names in bands.items())
    return ("A claim is **reproduced** when the reproduced mean lies within the claim's tolerance of the paper's "
            f"value ({listed}; every other claim: the paper's value itself is the bar). Outside that band, "
            "the verdict needs the whole 95% confidence interval of the mean outside it too (**not reproduced** "
            "below, **above the paper** above); a mean outside the band whose interval still reaches it is "
            "**inconclusive**.")


def tolerance_verdict(mean: float, ci95: float, paper_value: float, tolerance: float = 0.0,
                      two_sided: bool = False) -> str:
    """The verdict of :func:`tolerance_rule` on a mean and the half-width of its 95% CI (NaN: one seed,
    no interval, so a mean outside the band is inconclusive)."""
    eps = 1e-9
    low, high = paper_value - tolerance - eps, paper_value + tolerance + eps
    if mean >= low and (not two_sided or mean <= high):
        return "reproduced"
    if math.isnan(ci95):
        return "inconclusive"
    if mean < low:
        return "not reproduced" if mean + ci95 < low else "inconclusive"
    return "above the paper" if mean - ci95 > high else "inconclusive"


def _standin_status(claim: Claim, out: dict, frame: pd.DataFrame, results_dir) -> dict:
    """A claim tested on the stand-in (study B's regime): its row of :func:`standin_differences` (the one
    place its verdict is computed), a paired difference judged against zero; only a ``standin``-profile
    record gives a verdict. Called for a stand-in claim with runs (``frame``)."""
    profile = frame["profile"].iloc[0]
    table = standin_differences(profile, results_dir)
    out.update(profile=profile, record=str(frame["record"].iloc[0]))
    if claim.standin_row not in table.index:
        out["status"] = "setting not in the run"
        return out
    row = table.loc[claim.standin_row]
    out.update(value=float(row["difference"]), ci95=float(row["ci95"]), n=int(row["n"]))
    out["status"] = row["verdict"] if profile == "standin" else "reduced run"
    if profile == "standin" and row["family"].startswith("claim"):
        out["note"] = (f"{claim.offline_reason}; Holm-adjusted p = {row['p_holm']:.3g} over the claim family"
                       + (f"; smallest difference detectable at 80% power: {row['mde80']:.2f}"
                          if row["verdict"] == STANDIN_VERDICTS[2] else ""))
    return out


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
# metric a family of its own. Key -> (the paper's sentence, the comparison).
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


def _row(d: dict, family: str, metric: str, pretrain_of: dict) -> dict:
    by_pre = {}
    for seed, diff in zip(d["seeds"], d["diffs"]):
        by_pre.setdefault(pretrain_of.get(seed), []).append(diff)
    return {"metric": metric, "family": family, "difference": d["difference"], "ci_low": d["ci_low"],
            "ci_high": d["ci_high"], "ci95": d["ci95"], "n": d["n"], "p": d["p"], "mean_a": d["mean_a"],
            "mean_b": d["mean_b"], "std": d["std"],
            "by_pretrain_seed": "; ".join(f"{k}: {sum(v) / len(v):+.2f} (n={len(v)})" for k, v in by_pre.items()
                                          if k is not None)}


def standin_differences(profile: str = "standin", results_dir=None) -> pd.DataFrame | None:
    """B2's claims as paired differences over seeds, from B2's newest ``profile`` record; None without one.

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
      backbones (those run on every seed; B2's ``control_backbones`` run on fewer) and over {none, resample}; held-out - training compares ``lt_accuracy`` (``balanced_accuracy``) with the
      training accuracy of the same runs (macro-F1 has no training counterpart).
    * ``family="exploratory"``: EdgeNet per backbone family, resampling for the other families, every
      other balancing method - none (EdgeNet on), pretrained - scratch; unadjusted, verdict from the 95% CI.
    """
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
        rows[f"{key}: {metric}"] = _row(d, family, metric, pretrain_of)

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
    table["verdict"] = [_verdict(r) for _, r in table.iterrows()]
    for c in ("difference", "ci_low", "ci_high", "ci95", "p", "p_holm", "mde80", "mean_a", "mean_b", "std"):
        table[c] = table[c].astype(float)
    table["n"] = table["n"].astype(int)
    return table


def _verdict(row) -> str:
    if row["n"] < 2:
        return "not testable (one seed)"
    if row["family"].startswith("claim"):
        if row["p_holm"] < ALPHA:
            return STANDIN_VERDICTS[0] if row["difference"] > 0 else STANDIN_VERDICTS[1]
        return STANDIN_VERDICTS[2]
    return standin_verdict(row)


def _fmt_value(row: dict) -> str:
    if math.isnan(row["value"]):
        return ""
    d = row["digits"]
    ci = "" if math.isnan(row["ci95"]) else f" ± {row['ci95']:.{d}f}"
    return f"{row['value']:.{d}f}{ci} (n={row['n']})"


def chance_words(p: float) -> str:
    """A probability for prose: two decimals, three below 0.01, "below 0.001" under that, "unknown" for NaN."""
    if p is None or math.isnan(p):
        return "unknown"
    return "below 0.001" if p < 0.0005 else f"{p:.3f}" if p < 0.01 else f"{p:.2f}"


def _fmt_chance(row: dict) -> str:
    c = row["chance"]
    if not c:
        return ""
    normal = "" if math.isnan(c["normal"]) else "< 0.01; " if c["normal"] < 0.005 else f"{c['normal']:.2f}; "
    return f"{normal}{round(c['empirical'] * c['n'])} of {c['n']} seeds"


CHANCE_COLUMN = "one run reaches the paper (normal fit; seeds that did)"


def status_table(claims: list[Claim] | None = None, results_dir=None, full_only: bool = False) -> pd.DataFrame:
    """The book's status table: one row per claim, values at the paper's precision, mean ± 95% CI (n),
    and for a ``chance`` claim the chance that one run reaches the paper's value (:data:`CHANCE_COLUMN`).

    ``full_only``: full-setting records only (:func:`claim_status`), the front page's view.
    """
    rows = [claim_status(c, results_dir, full_only) for c in (CLAIMS if claims is None else claims)]
    return pd.DataFrame([{
        "paper": r["paper"], "claim": r["claim"], "reference": r["reference"],
        "paper value": "" if r["paper_value"] is None else f"{r['paper_value']:.{r['digits']}f}",
        "reproduced (mean ± 95% CI)": _fmt_value(r), CHANCE_COLUMN: _fmt_chance(r), "status": r["status"],
        "profile": r["profile"], "evidence": r["notebook"], "note": r["note"]} for r in rows])


# What each status word means, in the order the front page lists them; the groups of :func:`summaries`.
STATUS_WORDS = {
    "reproduced": ("Hold", "the reproduced mean reaches the paper's value within the claim's tolerance."),
    "not reproduced": ("Do not hold", "the mean and its whole 95% CI fall short of the paper's value (beyond the "
                       "tolerance)."),
    "inconclusive": ("Undecided", "the mean falls outside the tolerance, but its 95% CI still reaches the "
                     "paper's value: more seeds would decide."),
    "above the paper": ("Baselines stronger than the paper reports", "a baseline beats its Table 2 value by more "
                        "than the tolerance, CI included: the paper's baselines look weaker than they are, "
                        "so its margins look larger."),
    "measured": ("Measured", "a number without a paper value to compare with."),
    "supported on the stand-in": ("Supported on the stand-in", "a paired difference over seeds above zero: for "
                                  "the paper's claims, a paired t-test significant after Holm's correction "
                                  "over the claim family (other rows: the whole 95% CI above zero), on the "
                                  "stand-in data (not the paper's)."),
    "contradicted on the stand-in": ("Contradicted on the stand-in", "the same test, with the difference below "
                                     "zero, on the stand-in data."),
    "not shown on the stand-in": ("Not shown on the stand-in", "the paired difference is not significant after "
                                  "the correction (other rows: its 95% CI contains zero); the row's note gives the "
                                  "smallest difference these seeds would detect with 80% power."),
    "not testable (one seed)": ("Not testable with one seed", "a paired difference needs at least two seeds."),
    "not reproducible offline": ("Cannot be tested offline", "the paper's data or pretrained weights cannot be "
                                 "had without network access."),
    "setting not in the run": ("Not in the full-setting record yet", "the full-setting record exists but did "
                               "not train what the claim needs (for the margin over the basic CNN: both networks "
                               "in one record, on one device); `scripts/gpu_jobs.py` lists the job."),
    "not run yet": ("Not yet run at the full setting", "no full-setting record is committed for the claim's "
                    "notebook; `scripts/gpu_jobs.py` lists the GPU job that makes it."),
    "reduced run": ("Only reduced runs", "only a shortened run exists: its number says nothing for or "
                    "against the paper."),
    "no valid value": ("No valid value", "a run recorded NaN."),
}


def short_claim(text: str) -> str:
    """A claim's name for running text: without its trailing parenthesis (the unit, the measure), and
    without what follows a colon when the part before it already names the claim (30 characters or more:
    "Improved CNN (stride reading), our protocol: 48,000 images, ..." keeps "... our protocol")."""
    text = re.sub(r"\s*\([^()]*\)\s*$", "", text)
    head = re.match(r"^(.*?): ", text)
    return head[1] if head and len(head[1]) >= 30 else text


def summaries(table: pd.DataFrame) -> dict[str, str]:
    """One paragraph (Markdown) per paper from the rows of :func:`status_table`.

    It opens with the paper's first claim (its headline), its status and values, then names the claims
    of each status group (:data:`STATUS_WORDS`, in that order; their values are in the table); the reason
    a claim cannot be tested offline is given once. Every row sits in exactly one group, so the prose
    cannot state a verdict the table does not hold.
    """
    unknown = set(table["status"]) - set(STATUS_WORDS)
    if unknown:
        raise ValueError(f"status {sorted(unknown)} has no entry in claims.STATUS_WORDS; add its wording there.")

    def value(r) -> str:
        shown = re.sub(r" \(n=(\d+)\)$", r", n=\1", r["reproduced (mean ± 95% CI)"])
        if shown and r["paper value"]:
            shown += f"; paper {r['paper value']}"
        return f" ({shown})" if shown else ""

    out = {}
    for paper_name, rows in table.groupby("paper", sort=False):
        head = rows.iloc[0]
        parts = [f"Headline, {short_claim(head['claim'])}: **{head['status']}**{value(head)}. "
                 f"All {len(rows)} claims:"]
        for status, (label, _) in STATUS_WORDS.items():
            group = rows[rows["status"] == status]
            if group.empty:
                continue
            reasons = list(dict.fromkeys(n for n in group["note"] if n)) if status == "not reproducible offline" else []
            why = f" ({'; '.join(reasons)})" if reasons else ""
            items = "; ".join(short_claim(r["claim"]) for _, r in group.iterrows())
            parts.append(f"*{label}* ({len(group)}){why}: {items}.")
        out[paper_name] = " ".join(parts)
    return out


_T2, _T3, _T4, _H = paper.JICT_TABLE2, paper.JICT_TABLE3, paper.JICT_TABLE4, paper.JICT_HEADLINE
_OFFLINE_B = "the 59-class apparel set and pretrained weights cannot be fetched offline"
_STAND_IN = _OFFLINE_B + "; the value is the stand-in's paired difference (points)"

# Study A's verdict (a6): which reading of Table 1 (keras_models: the output-size column or the stride
# column) under which protocol gives the paper's number. Label -> (training set, metric, note).
A6_READINGS = {"improved_cnn": "output-size reading", "improved_cnn_strided": "stride reading"}
A6_PROTOCOLS = {
    "ours": ("our protocol: 48,000 images, the test set read once after the last epoch", "split_48k", "accuracy",
             "a test accuracy, nothing chosen on the test set"),
    "paper_text": ("the paper's text: 48,000 images in 375 batches of 128, the 12,000-image validation split's "
                   "best epoch reported as the test accuracy", "split_48k", "val_accuracy_best",
                   "the protocol the paper's text describes; a validation accuracy at the epoch chosen on the same "
                   "12,000 images, so optimistic, and not a test accuracy"),
    "keras_60k": ("Keras-tutorial protocol: all 60,000 images, the test set as validation_data, last epoch",
                  "all_60k", "accuracy", "a test accuracy; no validation split, nothing chosen on the test set"),
}
A6_DIAGNOSTIC = ("Keras-tutorial protocol (all 60,000 images), the epoch chosen on the test set",
                 "all_60k", "diagnostic_test_accuracy_best",
                 "diagnostic: the epoch is chosen on the test set; how the number could have been measured, "
                 "never a result")


def _a6_text(label: str, model: str, diagnostic: bool = False) -> str:
    return f"{'Diagnostic: i' if diagnostic else 'I'}mproved CNN ({A6_READINGS[model]}), {label} (%)"


def _a6_claim(label: str, model: str, protocol: str, metric: str, note: str, diagnostic: bool = False) -> Claim:
    return Claim("A", _a6_text(label, model, diagnostic), "Table 2", "a6_protocol", metric, _H["test_accuracy"],
                 where={"model": model, "protocol": protocol}, chance=True, note=note)


A6_CLAIMS: list[Claim] = [
    *[_a6_claim(label, model, protocol, metric, note) for label, protocol, metric, note in A6_PROTOCOLS.values()
      for model in A6_READINGS],
    _a6_claim(A6_DIAGNOSTIC[0], "improved_cnn_strided", *A6_DIAGNOSTIC[1:], diagnostic=True),
]


def a6_claim(protocol: str, model: str = "improved_cnn_strided") -> Claim:
    """The A6 claim of one protocol (a key of :data:`A6_PROTOCOLS`, or "diagnostic") and reading (model)."""
    if protocol == "diagnostic":
        text = _a6_text(A6_DIAGNOSTIC[0], model, diagnostic=True)
    else:
        text = _a6_text(A6_PROTOCOLS[protocol][0], model)
    found = [c for c in A6_CLAIMS if c.claim == text]
    if not found:
        raise KeyError(f"no A6 claim for protocol {protocol!r} and model {model!r}; protocols: "
                       f"{', '.join(A6_PROTOCOLS)}, diagnostic (stride reading only); models: {', '.join(A6_READINGS)}.")
    return found[0]


def a6_verdict(results_dir=None) -> pd.DataFrame | None:
    """Study A's verdict as a table, from the A6 claims: one row per (protocol, reading), the diagnostic last.

    Index: (protocol key of :data:`A6_PROTOCOLS` or "diagnostic", model). Columns: protocol and reading
    (in words), mean, low and high (the 95% CI of the mean), n, chance (P(one run >= the paper's value),
    normal fit), reached (seeds at or above it), status and note. None until a paper-profile a6 record
    exists (a reduced-profile record says nothing about the paper's number).
    """
    rows = {}
    keys = [(p, m) for p in A6_PROTOCOLS for m in A6_READINGS] + [("diagnostic", "improved_cnn_strided")]
    for protocol, model in keys:
        r = claim_status(a6_claim(protocol, model), results_dir)
        if r["profile"] != "paper":
            return None
        label = f"diagnostic: {A6_DIAGNOSTIC[0]}" if protocol == "diagnostic" else A6_PROTOCOLS[protocol][0]
        chance = r["chance"] or {"normal": math.nan, "empirical": math.nan, "n": 0}
        rows[(protocol, model)] = {"protocol": label, "reading": A6_READINGS[model], "mean": r["value"],
                                   "low": r["value"] - r["ci95"], "high": r["value"] + r["ci95"], "n": r["n"],
                                   "chance": chance["normal"], "reached": round(chance["empirical"] * chance["n"]),
                                   "status": r["status"], "note": r["note"]}
    return pd.DataFrame.from_dict(rows, orient="index")



def a6_in_words(results_dir=None) -> str | None:
    """Study A's verdict in plain words (Markdown) from :func:`a6_verdict`: which reading of Table 1 under
    which protocol reaches the paper's number, with the mean, its 95% CI, n and the chance of one run; the
    diagnostic row is left out (it chooses on the test set). None until a paper-profile a6 record exists."""
    table = a6_verdict(results_dir)
    if table is None:
        return None
    table = table.drop(index="diagnostic", level=0)

    def cell(r) -> str:
        return (f"{r['mean']:.2f} [{r['low']:.2f}, {r['high']:.2f}], n={r['n']}; one run reaches "
                f"{_H['test_accuracy']:.2f} with chance {chance_words(r['chance'])}")

    reached = table[table["status"] == "reproduced"]
    missed = table[table["status"] != "reproduced"]
    if reached.empty:
        return (f"**Study A's verdict:** no reading of Table 1 under any of the {len(A6_PROTOCOLS)} protocols "
                f"reaches the paper's {_H['test_accuracy']:.2f}%; the closest: " +
                "; ".join(f"{r['reading']} under {r['protocol']}: {cell(r)}" for _, r in missed.iterrows()) + ".")
    return (f"**Study A's verdict:** the paper's {_H['test_accuracy']:.2f}% is reached by " +
            " and by ".join(f"the {r['reading']} of Table 1 under {r['protocol']} ({cell(r)})"
                            for _, r in reached.iterrows()) +
            ". It is not reached by " + "; ".join(f"the {r['reading']} under {r['protocol'].split(':')[0]} "
                                                  f"({r['mean']:.2f} [{r['low']:.2f}, {r['high']:.2f}])"
                                                  for _, r in missed.iterrows()) + ".")


CLAIMS: list[Claim] = [
    Claim("A", "Improved CNN test accuracy (%)", "Table 2", "a1_improved_cnn", "accuracy", _H["test_accuracy"],
          where={"model": "improved_cnn"}, chance=True,
          note="output-size reading of Table 1, our protocol (48,000 images, test read once after the last epoch)"),
    Claim("A", "Micro-average ROC AUC", "Fig. 7", "a1_improved_cnn", "auc_micro", paper.JICT_FIG7_AUC,
          tolerance=0.0005, digits=3, where={"model": "improved_cnn"}),
    Claim("A", "Shirt, the hardest class: F1", "Table 3", "a1_improved_cnn", "f1_shirt",
          _T3["improved_cnn"]["Shirt"]["f1"], tolerance=0.02, where={"model": "improved_cnn"}),
    *[Claim("A", f"{label} test accuracy (%)", "Table 2", "a2_models", "accuracy", _T2[name]["accuracy"],
            tolerance=TOLERANCE, two_sided=True, where={"model": name})
      for name, label in paper.JICT_MODEL_LABELS.items() if name != "improved_cnn"],
    Claim("A", "Improved CNN, setting chosen on validation (A5): test accuracy (%)", "Table 2",
          "a5_closing_the_gap", "accuracy", _H["test_accuracy"], choose_on="val_accuracy",
          group=("model", "lr_end", "augment"), chance=True),
    Claim("A", "Batch size 256, the best in Table 4: accuracy (%)", "Table 4", "a3_batch_size", "accuracy",
          _T4[256]["accuracy"], where={"batch_size": 256}),
    # The text's descriptions of Figs. 4 and 5, measured on every run's curves (paper.JICT_CURVE_CLAIMS).
    *[Claim("A", c["claim"], c["reference"], "a2_models" if c["model"] == "cnn" else "a1_improved_cnn",
            c["measure"], c["paper_value"], where={"model": c["model"]}, from_history=True)
      for c in paper.JICT_CURVE_CLAIMS.values()],
    # How 92.87% could have been measured (a6): both readings of Table 1 under each protocol (A6_PROTOCOLS).
    *A6_CLAIMS,
    # The margin over the basic CNN, paired over seeds within one record (one device, one backend).
    Claim("A", "Improved CNN minus basic CNN, paired over seeds (points; abstract: "
          f"{_H['abstract_gain_over_cnn']})", "Table 2", "a2_models", "accuracy", _H["table2_gain_over_cnn"],
          where={"model": ["improved_cnn", "cnn"]}, paired=("model", "improved_cnn", "cnn", ("seed",))),
    Claim("B", "BEiT + EdgeNet + balancing, best validation accuracy (%)", "hyper-parameter table",
          "b3_hyperparameters", None, paper.EDGENET_HEADLINE["best_val_acc"], offline_reason=_OFFLINE_B),
    # Stand-in evidence (micro backbones pretrained in B0 on coarse groups, long-tailed Fashion-MNIST): the
    # rows of standin_differences, on the held-out set with the training data's long-tailed class mix.
    Claim("B", "EdgeNet improves the backbones (accuracy on the long-tailed held-out set, on - off, points)",
          "Conclusion", "b2_backbones", "lt_accuracy", standin=True, offline_reason=_STAND_IN,
          standin_row="EdgeNet on - off (claim backbones): lt_accuracy"),
    Claim("B", "EdgeNet improves BEiT (accuracy on the long-tailed held-out set, on - off, points)",
          "Conclusion", "b2_backbones", "lt_accuracy", standin=True, offline_reason=_STAND_IN,
          standin_row="EdgeNet on - off (BEiT): lt_accuracy"),
    Claim("B", "Balancing (the paper's resampling) helps Swin V2 (accuracy on the long-tailed held-out set, "
          "with - without, points)", "Conclusion", "b2_backbones", "lt_accuracy", standin=True,
          offline_reason=_STAND_IN, standin_row="resample - none (Swin V2): lt_accuracy"),
    Claim("B", "Balancing helps DeiT", "Conclusion", "b2_backbones", None,
          offline_reason=_OFFLINE_B + "; untestable on the stand-in: " + UNTESTABLE["resample - none (DeiT)"]),
    Claim("B", "Validation accuracy above training accuracy (BEiT + EdgeNet + resampling; long-tailed held-out "
          "minus training accuracy, points)", "results table", "b2_backbones", "lt_accuracy", standin=True,
          offline_reason=_STAND_IN, standin_row="held-out - training accuracy (BEiT + EdgeNet + resample): lt_accuracy"),
]


REDUCED_WARNING = "reduced run: these numbers do not test the paper"


def page_banner(notebook: str, profile: str, params: dict, results_dir=None) -> str:
    """The banner at the top of a study page (MyST Markdown), from the records' provenance.

    It names the committed full-setting record(s) of ``notebook`` the page concludes from (profile,
    epochs, seeds, device, commit, date) and what they find for the notebook's claims (:data:`CLAIMS`,
    read with ``full_only``), then what this page's own cells ran: ``profile`` with ``params``; a reduced
    profile (not in :data:`FULL_PROFILE_NAMES`) says :data:`REDUCED_WARNING`.
    """
    book_dir = results.results_dir(results_dir).parent
    lines = []
    for full in FULL_PROFILE_NAMES:
        records = results.load_records(notebook, full, results_dir)
        if not records:
            continue
        rec = records[-1]
        p = rec["provenance"].get("parameters", {})
        seeds = p.get("seeds") or [rec["provenance"].get("seed")]
        page = f"{profiles.EXECUTED_DIRS[full]}/{notebook}"
        link = (f" ({{doc}}`the executed notebook <../{page}>`)" if (book_dir / f"{page}.ipynb").is_file()
                and profile != full else "")
        lines.append(f"**Evidence**: the committed `{full}` record, {_count(p.get('epochs', '?'), 'epoch')}, "
                     f"{_count(len(seeds), 'seed')}; {results.provenance_line(rec)}{link}.")
    trains = "epochs" in params
    if not lines and not trains:
        lines.append("**Evidence**: this page trains nothing; its numbers describe the data and the method.")
    elif not lines and notebook.startswith("b"):
        lines.append(f"**Evidence**: none at the paper's setting: {_OFFLINE_B}. The paper's conclusions are "
                     "tested on the stand-in ({doc}`b2_backbones`).")
    elif not lines:
        lines.append("**Evidence**: no full-setting record is committed for this page yet; "
                     "`python scripts/gpu_jobs.py --dry-run` lists the GPU run that makes one.")
    found = [claim_status(c, results_dir, full_only=True) for c in CLAIMS if c.notebook == notebook]
    found = [r for r in found if r["profile"]]
    if found:
        lines.append("It finds:\n" + "\n".join(
            f"- {short_claim(r['claim'])}: **{r['status']}**" + _paren_value(r) for r in found))
    seeds = params.get("seeds")
    run = f"profile `{profile}`" + (f", {_count(params['epochs'], 'epoch')}" if trains else "") + \
        (f", {_count(len(seeds), 'seed')}" if isinstance(seeds, list) else "")
    if profile in FULL_PROFILE_NAMES:
        lines.append(f"**This page** is the executed full-setting run ({run}).")
    else:  # first: what a reader must know before any number below
        lines.insert(0, f"**This page** ran its cells at {run}: **{REDUCED_WARNING}**. They show the method "
                        "at a size a laptop re-runs in minutes" + ("; the evidence is the record below." if found or
                                                                    "record," in lines[0] else "."))
    kind = "note" if profile in FULL_PROFILE_NAMES else "warning"
    return f":::{{admonition}} Evidence and this run ({profile} profile)\n:class: {kind} page-banner\n\n" + \
        "\n\n".join(lines) + "\n:::\n"


def _count(n, noun: str) -> str:
    return f"{n} {noun}" + ("" if n == 1 else "s")


def _paren_value(row: dict) -> str:
    """`` (mean ± CI, n=k; paper p)`` for running text, or "" without a value."""
    shown = _fmt_value(row)
    if not shown:
        return ""
    shown = re.sub(r" \(n=(\d+)\)$", r", n=\1", shown)
    if row["paper_value"] is not None:
        shown += f"; paper {row['paper_value']:.{row['digits']}f}"
    return f" ({shown})"


def verdict_text(notebook: str, profile: str, results_dir=None) -> str:
    """What a study page concludes (Markdown): its claims (:data:`CLAIMS` of ``notebook``) as the
    full-setting records decide them, with their values. A page run at a reduced ``profile`` says that
    its own numbers give no verdict; the full-setting record's verdict is the page's conclusion."""
    found = [claim_status(c, results_dir, full_only=True) for c in CLAIMS if c.notebook == notebook]
    lead = "" if profile in FULL_PROFILE_NAMES else (
        f"*This run (profile `{profile}`) is reduced: its numbers give no verdict.* ")
    decided = [r for r in found if r["profile"]]
    if not decided:
        missing = "" if not found else " The claims of this page wait for a full-setting run " \
            "(`python scripts/gpu_jobs.py --dry-run`)."
        return lead + "No full-setting record is committed for this page." + missing
    items = "; ".join(f"{short_claim(r['claim'])}: **{r['status']}**{_paren_value(r)}" for r in found)
    return lead + f"**The full-setting record concludes** (profile `{decided[0]['profile']}`): {items}."
