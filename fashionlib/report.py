"""Tables for the book built from results records: paper vs reproduced, claim status, timings.

A "paper vs reproduced" row always carries: paper value, reproduced mean, std, n (seeds), difference,
and the provenance (profile, device, commit) of the record it came from.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
import pandas as pd

from . import results


def seed_stats(values, paper_value: float | None = None) -> dict:
    """Reproduced mean, std over seeds (ddof=1; NaN for one seed: no spread is known), n, difference."""
    vals = np.asarray([v for v in np.atleast_1d(values) if v is not None], dtype=float)
    mean = float(vals.mean()) if vals.size else np.nan
    return {"reproduced mean": mean, "std": float(vals.std(ddof=1)) if vals.size > 1 else np.nan,
            "n": int(vals.size), "difference": mean - paper_value if paper_value is not None else np.nan}


def compare_row(label: str, paper_value: float | None, values, record: dict | None = None,
                digits: int = 2) -> dict:
    """One row: the paper's value, the reproduced mean/std over seeds, n, and the difference."""
    stats = seed_stats(values, paper_value)
    row = {"": label, "paper": paper_value,
           **{k: v if k == "n" else round(v, digits + 2) for k, v in stats.items()}}
    if record is not None:
        row.update(provenance_columns(record))
    return row


def provenance_columns(record: dict) -> dict:
    """The profile, device and commit columns of a "paper vs reproduced" table, from a record."""
    p = record["provenance"]
    return {"profile": p.get("profile"), "device": p["device"].get("accelerator", "cpu"),
            "commit": str(p.get("git_commit"))[:10]}


def compare_table(rows: list[dict]) -> pd.DataFrame:
    return pd.DataFrame(rows).set_index("")


@dataclass
class Claim:
    """A headline claim of a paper and how to check it from a results record."""

    paper: str
    claim: str
    reference: str
    notebook: str
    evidence: str                                   # link target in the book, e.g. "a1_improved_cnn"
    measure: Callable[[dict], float | None] | None  # record -> reproduced value (None: offline impossible)
    paper_value: float | None = None
    tolerance: float = 0.0                           # reproduced if value >= paper_value - tolerance
    offline_reason: str = ""
    two_sided: bool = False                          # also "above the paper" beyond paper_value + tolerance


def claim_status(claim: Claim, results_dir=None) -> dict:
    """Evaluate one claim from the newest record (paper profile preferred)."""
    rec = results.latest_record(claim.notebook, results_dir_=results_dir)
    value = None
    if claim.measure is None:
        status = "not reproducible offline"
    elif rec is None:
        status = "not run yet"
    else:
        value = claim.measure(rec)
        if value is None:
            status = "not run yet"
        elif rec["provenance"].get("profile") == "smoke":
            status = "smoke run only"
        elif claim.paper_value is None:
            status = "measured"
        else:
            status = "reproduced" if value >= claim.paper_value - claim.tolerance else "not reproduced"
            if claim.two_sided and value > claim.paper_value + claim.tolerance:
                status = "above the paper"  # a baseline stronger than the paper's weakens its comparison
    prov = rec["provenance"] if rec else {}
    run_params = prov.get("parameters", {})
    setting = ", ".join(s for s in (
        f"{run_params['epochs']} epochs" if "epochs" in run_params else "",
        f"{len(run_params['seeds'])} seed(s)" if isinstance(run_params.get("seeds"), list) else "") if s)
    return {
        "paper": claim.paper, "claim": claim.claim, "reference": claim.reference,
        "paper value": claim.paper_value, "reproduced": None if value is None else round(float(value), 4),
        "status": status, "profile": prov.get("profile", ""), "setting": setting,
        "evidence": claim.evidence, "note": claim.offline_reason,
    }


def timings_table(results_dir=None) -> pd.DataFrame:
    """Wall time of the newest run of each notebook at each profile, from the records."""
    rows = []
    for rec in results.load_records(results_dir_=results_dir):
        p = rec["provenance"]
        if p.get("wall_time_s") is None or p.get("notebook", "").startswith("bench"):
            continue
        rows.append({"notebook": p["notebook"], "profile": p["profile"], "minutes": p["wall_time_s"] / 60,
                     "device": p["device"].get("accelerator", "cpu"), "cores": p["device"].get("cpu_count"),
                     "started": p["started"]})
    if not rows:
        return pd.DataFrame(columns=["notebook", "profile", "minutes", "device", "cores"])
    df = pd.DataFrame(rows).sort_values("started").groupby(["notebook", "profile"]).last().reset_index()
    return df.drop(columns="started")
