"""An independent recomputation of the stand-in's claim rows from the committed B2 record.

Plain json, pandas and scipy, none of fashionlib's statistics: the per-seed paired differences, a two-sided
one-sample t-test, Holm's step-down adjustment written out here, and the verdict rule (adjusted p below 0.05,
by the sign). It must agree with ``standin_claims.standin_differences`` on both metrics; a change to how the
library pairs, averages, tests or corrects fails here.
"""

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from fashionlib import standin_claims

RECORDS = Path(__file__).resolve().parent.parent / "book" / "results" / "standin" / "b2_backbones"


def _runs() -> pd.DataFrame:
    record = json.loads(sorted(RECORDS.glob("*.json"))[-1].read_text())
    return pd.DataFrame([{**r["setting"], "seed": r["seed"], **r["metrics"]} for r in record["runs"]])


def _holm(p):
    order = np.argsort(p)
    m = len(p)
    adjusted = np.empty(m)
    running = 0.0
    for k, i in enumerate(order):
        running = max(running, min(1.0, (m - k) * p[i]))
        adjusted[i] = running
    return adjusted


def _per_seed(frame, by, a, b, metric):
    means = frame.groupby([by, "seed"])[metric].mean()  # the runs of a seed averaged over the other settings
    return (means[a] - means[b]).dropna()


def _claim_differences(runs: pd.DataFrame, metric: str) -> dict:
    core = runs[runs["balance"].isin(["none", "resample"])]
    seeds_per_backbone = core.groupby("backbone")["seed"].nunique()
    claim_backbones = seeds_per_backbone[seeds_per_backbone == core["seed"].nunique()].index
    on = runs[runs["edgenet"]]
    paper_runs = on[(on["family"] == "BEiT") & (on["balance"] == "resample")].set_index("seed")
    return {
        "EdgeNet on - off (claim backbones)": _per_seed(core[core["backbone"].isin(claim_backbones)], "edgenet",
                                                        True, False, metric),
        "EdgeNet on - off (BEiT)": _per_seed(core[core["family"] == "BEiT"], "edgenet", True, False, metric),
        "resample - none (Swin V2)": _per_seed(on[on["family"] == "Swin V2"], "balance", "resample", "none", metric),
        "held-out - training accuracy (BEiT + EdgeNet + resample)": paper_runs[metric] - paper_runs["train_accuracy"],
    }


@pytest.mark.parametrize("metric", ["lt_accuracy", "balanced_accuracy"])
def test_the_claim_rows_recomputed_by_hand_match_the_library(metric):
    diffs = _claim_differences(_runs(), metric)
    p = np.array([stats.ttest_1samp(d, 0.0).pvalue for d in diffs.values()])
    p_holm = _holm(p)
    table = standin_claims.standin_differences("standin", RECORDS.parent.parent)
    for (name, d), ph in zip(diffs.items(), p_holm):
        row = table.loc[f"{name}: {metric}"]
        half = stats.t.ppf(0.975, len(d) - 1) * d.std(ddof=1) / np.sqrt(len(d))
        assert int(row["n"]) == len(d) >= 10, name
        assert row["difference"] == pytest.approx(d.mean(), abs=1e-9), name
        assert row["ci95"] == pytest.approx(half, abs=1e-9), name
        assert row["p_holm"] == pytest.approx(ph, rel=1e-9), name
        verdict = (standin_claims.STANDIN_VERDICTS[0] if ph < 0.05 and d.mean() > 0 else
                   standin_claims.STANDIN_VERDICTS[1] if ph < 0.05 else standin_claims.STANDIN_VERDICTS[2])
        assert row["verdict"] == verdict, name


def test_the_claim_cells_have_ten_seeds_over_two_pretraining_seeds():
    runs = _runs()
    cells = runs[runs["balance"].isin(["none", "resample"]) & runs["family"].isin(["BEiT", "Swin V2"])]
    per_cell = cells.groupby(["family", "edgenet", "balance"])["seed"].nunique()
    assert len(per_cell) == 8 and per_cell.min() >= 10
    assert cells["pretrain_seed"].nunique() >= 2
    assert runs["weights_sha256"].str.fullmatch(r"[0-9a-f]{64}").all()  # the weights each run loaded
    assert "DeiT" not in set(runs["family"])  # the micro DeiT was the micro ViT: dropped, the page says why
