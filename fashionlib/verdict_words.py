"""The words the book prints about the claims: what each status means, one paragraph per paper, the
verdict rule, a study page's banner and conclusion, the front page's claim cells, and probabilities for prose.

Every sentence is built from :func:`claims.claim_status` rows (or :func:`claims.status_table`), so the
prose cannot state a verdict the table does not hold.
"""

from __future__ import annotations

import math
import re

import pandas as pd

from . import book, claims, files, results

REDUCED_WARNING = "reduced run: these numbers do not test the paper"

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


def claim_cell(row) -> str:
    """A status row's claim as an HTML table cell: its short name (:func:`short_claim`) linking to the
    evidence page, then the paper's reference in small type."""
    return f'<a href="{row["evidence"]}.html">{short_claim(row["claim"])}</a> <small>({row["reference"]})</small>'


def reproduced_cell(text: str) -> str:
    """A reproduced value "m ± h (n=k)" as an HTML table cell that breaks before the run count, so the
    narrow column stays narrow; a dash when there is no value."""
    return text.replace(" (n=", "<br>n=").rstrip(")") if text else "&ndash;"


def summaries(table: pd.DataFrame) -> dict[str, str]:
    """One paragraph (Markdown) per paper from the rows of :func:`claims.status_table`.

    It opens with the paper's first claim (its headline), its status and values, then names the claims
    of each status group (:data:`STATUS_WORDS`, in that order; their values are in the table); the reason
    a claim cannot be tested offline is given once. Every row sits in exactly one group, so the prose
    cannot state a verdict the table does not hold.
    """
    unknown = set(table["status"]) - set(STATUS_WORDS)
    if unknown:
        raise ValueError(f"status {sorted(unknown)} has no entry in verdict_words.STATUS_WORDS; add its wording there.")

    def value(r) -> str:
        return _in_parentheses(r["reproduced (mean ± 95% CI)"], r["paper value"])

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


def tolerance_rule(claim_list: list[claims.Claim] | None = None) -> str:
    """The verdict rule in words (Markdown), with each claim's tolerance as :data:`claims.CLAIMS` sets it."""
    bands = {}
    for c in claims.CLAIMS if claim_list is None else claim_list:
        if c.tolerance and c.paper_value is not None:
            bands.setdefault((c.tolerance, c.two_sided), []).append(short_claim(c.claim))
    listed = "; ".join(f"{', '.join(names)}: {tol:g}" + (" either way" if two else " below")
                       for (tol, two), names in bands.items())
    return ("A claim is **reproduced** when the reproduced mean lies within the claim's tolerance of the paper's "
            f"value ({listed}; every other claim: the paper's value itself is the bar). Outside that band, "
            "the verdict needs the whole 95% confidence interval of the mean outside it too (**not reproduced** "
            "below, **above the paper** above); a mean outside the band whose interval still reaches it is "
            "**inconclusive**.")


def chance_words(p: float) -> str:
    """A probability for prose: two decimals, three below 0.01, "below 0.001" under that, "unknown" for NaN."""
    if p is None or math.isnan(p):
        return "unknown"
    return "below 0.001" if p < 0.0005 else f"{p:.3f}" if p < 0.01 else f"{p:.2f}"


def page_banner(notebook: str, profile: str, params: dict, results_dir=None) -> str:
    """The banner at the top of a study page (MyST Markdown), from the records' provenance.

    It names the committed full-setting record(s) of ``notebook`` the page concludes from (profile,
    epochs, seeds, device, commit, date) and what they find for the notebook's claims (:data:`claims.CLAIMS`,
    read with ``full_only``), then what this page's own cells ran: ``profile`` with ``params``; a reduced
    profile (not in :data:`claims.FULL_PROFILE_NAMES`) says :data:`REDUCED_WARNING`.
    """
    book_dir = files.results_dir(results_dir).parent
    lines = []
    for full in claims.FULL_PROFILE_NAMES:
        records = results.load_records(notebook, full, results_dir)
        if not records:
            continue
        rec = records[-1]
        p = rec["provenance"].get("parameters", {})
        seeds = p.get("seeds") or [rec["provenance"].get("seed")]
        page = f"{book.EXECUTED_DIRS[full]}/{notebook}"
        link = (f" ({{doc}}`the executed notebook <../{page}>`)" if (book_dir / f"{page}.ipynb").is_file()
                and profile != full else "")
        lines.append(f"**Evidence**: the committed `{full}` record, {_count(p.get('epochs', '?'), 'epoch')}, "
                     f"{_count(len(seeds), 'seed')}; {results.provenance_line(rec)}{link}.")
    trains = "epochs" in params
    if not lines and not trains:
        lines.append("**Evidence**: this page trains nothing; its numbers describe the data and the method.")
    elif not lines and notebook.startswith("b"):
        lines.append(f"**Evidence**: none at the paper's setting: {claims.STUDY_B_OFFLINE}. The paper's conclusions are "
                     "tested on the stand-in ({doc}`b2_backbones`).")
    elif not lines:
        lines.append("**Evidence**: no full-setting record is committed for this page yet; "
                     "`python scripts/gpu_jobs.py --dry-run` lists the GPU run that makes one.")
    found = _page_claims(notebook, results_dir)
    found = [r for r in found if r["profile"]]
    if found:
        lines.append("It finds:\n" + "\n".join(
            f"- {short_claim(r['claim'])}: **{r['status']}**" + _paren_value(r) for r in found))
    seeds = params.get("seeds")
    run = f"profile `{profile}`" + (f", {_count(params['epochs'], 'epoch')}" if trains else "") + \
        (f", {_count(len(seeds), 'seed')}" if isinstance(seeds, list) else "")
    if profile in claims.FULL_PROFILE_NAMES:
        lines.append(f"**This page** is the executed full-setting run ({run}).")
    else:  # first: what a reader must know before any number below
        lines.insert(0, f"**This page** ran its cells at {run}: **{REDUCED_WARNING}**. They show the method "
                        "at a size a laptop re-runs in minutes" + ("; the evidence is the record below." if found or
                                                                    "record," in lines[0] else "."))
    kind = "note" if profile in claims.FULL_PROFILE_NAMES else "warning"
    return f":::{{admonition}} Evidence and this run ({profile} profile)\n:class: {kind} page-banner\n\n" + \
        "\n\n".join(lines) + "\n:::\n"


def _count(n, noun: str) -> str:
    return f"{n} {noun}" + ("" if n == 1 else "s")


def _paren_value(row: dict) -> str:
    """`` (mean ± CI, n=k; paper p)`` for running text, or "" without a value."""
    paper = "" if row["paper_value"] is None else f"{row['paper_value']:.{row['digits']}f}"
    return _in_parentheses(claims.value_text(row), paper)


def _in_parentheses(shown: str, paper: str) -> str:
    """A claim's value as running text: ``shown`` ("mean ± CI (n=k)") as `` (mean ± CI, n=k; paper p)``
    with ``paper`` (already formatted; "" leaves it out), or "" when there is no value."""
    if not shown:
        return ""
    shown = re.sub(r" \(n=(\d+)\)$", r", n=\1", shown)
    return f" ({shown}; paper {paper})" if paper else f" ({shown})"


def _page_claims(notebook: str, results_dir=None) -> list[dict]:
    """:func:`claims.claim_status` of each claim of ``notebook``, as the full-setting records decide it."""
    return [claims.claim_status(c, results_dir, full_only=True) for c in claims.CLAIMS if c.notebook == notebook]


def verdict_text(notebook: str, profile: str, results_dir=None) -> str:
    """What a study page concludes (Markdown): its claims (:data:`claims.CLAIMS` of ``notebook``) as the
    full-setting records decide them, with their values. A page run at a reduced ``profile`` says that
    its own numbers give no verdict; the full-setting record's verdict is the page's conclusion."""
    found = _page_claims(notebook, results_dir)
    lead = "" if profile in claims.FULL_PROFILE_NAMES else (
        f"*This run (profile `{profile}`) is reduced: its numbers give no verdict.* ")
    decided = [r for r in found if r["profile"]]
    if not decided:
        missing = "" if not found else " The claims of this page wait for a full-setting run " \
            "(`python scripts/gpu_jobs.py --dry-run`)."
        return lead + "No full-setting record is committed for this page." + missing
    items = "; ".join(f"{short_claim(r['claim'])}: **{r['status']}**{_paren_value(r)}" for r in found)
    return lead + f"**The full-setting record concludes** (profile `{decided[0]['profile']}`): {items}."
