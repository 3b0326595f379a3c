"""The papers' headline claims and their reproduction status, read from the runs of the results records.

A claim names a notebook, a metric (a column of ``results.runs_frame``) and the runs it is measured on
(setting filters, or the setting chosen on validation). Its status comes from the newest record of the
preferred profile, in one of two regimes (:func:`claim_status`). Study A's claims are judged against the
paper's value: only a ``paper``-profile record gives a verdict; a ``cpu`` or ``smoke`` record is a
reduced run and says so. The verdict rule (:func:`tolerance_verdict`, in words
:func:`verdict_words.tolerance_rule`): the reproduced mean within the claim's tolerance of the paper's
value is "reproduced"; outside it, the whole 95% CI must lie outside too for "not reproduced" (or "above
the paper"), else the claim is "inconclusive" (more seeds would decide). Study B's claims cannot be
tested on the paper's data offline; they are tested on the stand-in (its ``standin`` profile) as paired
differences (:mod:`standin_claims`), and their status says so. The tolerance of the Table 2 baselines
(:data:`TOLERANCE`) lives here only; the A6 claims (:data:`A6_CLAIMS`) are judged together by
:mod:`study_a_verdict`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import pandas as pd

from . import paper, report, results, standin_claims

TOLERANCE = 1.5  # points: a Table 2 baseline counts as reproduced within this distance of the paper, both ways
PROFILE_PREFERENCE = ("paper", "cpu", "smoke")  # the profiles whose records a claim reads, preferred first
STANDIN_PROFILE_PREFERENCE = ("standin", "cpu", "smoke")  # the same for study B's stand-in claims
FULL_PROFILE_NAMES = ("paper", "standin")  # the full-setting profiles: only their records give a verdict
TOLERANCE_VERDICTS = ("reproduced", "not reproduced", "inconclusive", "above the paper", "measured")


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
    standin_row: str = ""  # the row of standin_claims.standin_differences giving a stand-in claim's value and verdict
    offline_reason: str = ""
    from_history: bool = False  # ``metric`` is a key of metrics.curve_summary, computed from each run's history
    chance: bool = False  # also estimate the chance that one run reaches ``paper_value`` (report.chance_at_least)
    note: str = ""  # shown beside the row: what the number is (e.g. "diagnostic: chosen on the test set")


def claim_status(claim: Claim, results_dir=None, full_only: bool = False) -> dict:
    """Evaluate one claim from the runs of the newest record of the preferred profile.

    ``full_only``: read only the full-setting profiles (:data:`FULL_PROFILE_NAMES`), so that a claim
    without a full-setting record is "not run yet" rather than a reduced run's number (the front page's table).

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
                       f"{frame['record'].iloc[0]} (columns: {', '.join(frame.columns)}); "
                       "update the claim in fashionlib/claims.py.")
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


def tolerance_verdict(mean: float, ci95: float, paper_value: float, tolerance: float = 0.0,
                      two_sided: bool = False) -> str:
    """The verdict of the tolerance rule (:func:`verdict_words.tolerance_rule`) on a mean and the
    half-width of its 95% CI (NaN: one seed, no interval, so a mean outside the band is inconclusive)."""
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
    """A claim tested on the stand-in (study B's regime): its row of
    :func:`standin_claims.standin_differences` (the one place its verdict is computed), a paired difference
    judged against zero; only a ``standin``-profile record gives a verdict. Called for a stand-in claim
    with runs (``frame``)."""
    profile = frame["profile"].iloc[0]
    table = standin_claims.standin_differences(profile, results_dir, frame=frame)
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
                          if row["verdict"] == standin_claims.STANDIN_VERDICTS[2] else ""))
    return out


def value_text(row: dict) -> str:
    """A claim_status row's value for a table cell: ``mean ± CI (n=k)`` at the claim's precision, "" for NaN."""
    if math.isnan(row["value"]):
        return ""
    d = row["digits"]
    ci = "" if math.isnan(row["ci95"]) else f" ± {row['ci95']:.{d}f}"
    return f"{row['value']:.{d}f}{ci} (n={row['n']})"


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
        "reproduced (mean ± 95% CI)": value_text(r), CHANCE_COLUMN: _fmt_chance(r), "status": r["status"],
        "profile": r["profile"], "evidence": r["notebook"], "note": r["note"]} for r in rows])


_T2, _T3, _T4, _H = paper.JICT_TABLE2, paper.JICT_TABLE3, paper.JICT_TABLE4, paper.JICT_HEADLINE
STUDY_B_OFFLINE = "the 59-class apparel set and pretrained weights cannot be fetched offline"
_STAND_IN = STUDY_B_OFFLINE + "; the value is the stand-in's paired difference (points)"

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
          "b3_hyperparameters", None, paper.EDGENET_HEADLINE["best_val_acc"], offline_reason=STUDY_B_OFFLINE),
    # Stand-in evidence (micro backbones pretrained in B0 on coarse groups, long-tailed Fashion-MNIST): the
    # rows of standin_claims.standin_differences, on the held-out set with the training data's long-tailed
    # class mix.
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
          offline_reason=STUDY_B_OFFLINE + "; untestable on the stand-in: "
          + standin_claims.UNTESTABLE["resample - none (DeiT)"]),
    Claim("B", "Validation accuracy above training accuracy (BEiT + EdgeNet + resampling; long-tailed held-out "
          "minus training accuracy, points)", "results table", "b2_backbones", "lt_accuracy", standin=True,
          offline_reason=_STAND_IN, standin_row="held-out - training accuracy (BEiT + EdgeNet + resample): lt_accuracy"),
]
