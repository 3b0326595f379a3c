"""Paper-vs-reproduced rows, paired differences and timings from results records.

Expected values are computed by hand; the t quantiles come from a printed table
(t_{0.975, 1} = 12.706, t_{0.975, 2} = 4.303, t_{0.975, 3} = 3.182).
"""

import math
import time

import numpy as np
import pandas as pd
from scipy import stats
import pytest

from fashionlib import report, results


def _frame(rows):
    """A runs_frame-shaped table: provenance columns plus the given setting/metric columns."""
    base = {"notebook": "nb", "profile": "paper", "record": "r.json", "commit": "0123456789abcdef",
            "device": "cpu", "started": "2026", "model_file": None, "history": None}
    return pd.DataFrame([{**base, **r} for r in rows])


def test_compare_gives_mean_std_n_t_interval_and_difference():
    row = report.compare([1.0, 2.0, 3.0], 1.5)
    # mean 2, std sqrt(((-1)^2 + 0 + 1^2) / 2) = 1, half-width t_{0.975,2} * 1 / sqrt(3) = 4.303 / 1.732 = 2.484
    assert (row["paper"], row["mean"], row["std"], row["n"], row["difference"]) == (1.5, 2.0, 1.0, 3, 0.5)
    assert row["ci95"] == pytest.approx(2.4841, abs=1e-3)
    # the committed A1 paper run: 92.05, 92.10, 91.70 -> mean 91.95, std sqrt(0.095 / 2) = 0.2179,
    # half-width 4.303 * 0.2179 / 1.732 = 0.5414
    a1 = report.compare([92.05, 92.10, 91.70], 92.87)
    assert a1["mean"] == pytest.approx(91.95) and a1["std"] == pytest.approx(0.21794, abs=1e-4)
    assert a1["ci95"] == pytest.approx(0.5414, abs=1e-3) and a1["difference"] == pytest.approx(-0.92)
    two = report.compare([90.0, 91.0])  # half-width 12.706 * 0.7071 / 1.4142 = 6.353
    assert two["ci95"] == pytest.approx(6.353, abs=1e-2) and math.isnan(two["difference"])


def test_one_seed_has_no_spread_and_no_interval():
    row = report.compare([92.06], 92.87)
    assert row["n"] == 1 and math.isnan(row["std"]) and math.isnan(row["ci95"])
    assert row["difference"] == pytest.approx(-0.81)


def test_compare_names_the_provenance_of_a_record_a_row_or_a_frame():
    rec = {"provenance": {"profile": "paper", "device": {"accelerator": "NVIDIA H100"}, "git_commit": "439a488ce3157d"}}
    assert {k: report.compare([1.0], None, rec)[k] for k in ("profile", "device", "commit")} == \
        {"profile": "paper", "device": "NVIDIA H100", "commit": "439a488ce3"}
    frame = _frame([{"seed": 0, "accuracy": 1.0}, {"seed": 1, "accuracy": 2.0, "device": "NVIDIA H100"}])
    row = report.compare(frame["accuracy"], None, frame)
    assert (row["profile"], row["device"], row["commit"]) == ("paper", "cpu, NVIDIA H100", "0123456789")
    assert report.compare([1.0], None, frame.iloc[0])["commit"] == "0123456789"


def test_compare_table_rounds_each_row_to_the_papers_precision():
    t = report.compare_table({"accuracy (%)": report.compare([1.0, 2.0, 3.0], 1.5),
                              "AUC": report.compare([0.99681, 0.99702], 0.998, digits=3),
                              "one seed": report.compare([92.06], 92.87)})
    assert list(t.columns) == ["paper", "mean", "std", "n", "95% CI", "difference", "profile", "device", "commit"]
    assert t.loc["accuracy (%)"].tolist()[:6] == ["1.50", "2.00", "1.00", 3, "[-0.48, 4.48]", "0.50"]
    # AUC: mean 0.996915, std 0.0001485, half-width 12.706 * 0.0001485 / 1.4142 = 0.001334
    assert t.loc["AUC"].tolist()[:6] == ["0.998", "0.997", "0.000", 2, "[0.996, 0.998]", "-0.001"]
    assert t.loc["one seed"].tolist()[:6] == ["92.87", "92.06", "", 1, "", "-0.81"]


def test_paired_difference_pairs_the_same_seeds():
    frame = _frame([{"seed": s, "model": m, "accuracy": acc} for m, accs in
                    (("a", (3.0, 5.0, 4.0)), ("b", (1.0, 2.0, 4.0))) for s, acc in zip((2, 0, 1), accs)])
    out = report.paired_difference(frame, "accuracy", "model", "a", "b")
    # differences by seed 2, 0, 1: 2, 3, 0 -> mean 5/3, std sqrt((1/9 + 16/9 + 25/9) / 2) = 1.5275,
    # half-width 4.303 * 1.5275 / 1.732 = 3.7946
    assert out["seeds"] == [0, 1, 2] and out["n"] == 3
    assert out["difference"] == pytest.approx(5 / 3) and out["std"] == pytest.approx(1.5275, abs=1e-4)
    assert out["ci95"] == pytest.approx(3.7946, abs=2e-3)
    assert out["ci_low"] == pytest.approx(5 / 3 - out["ci95"]) and out["ci_high"] == pytest.approx(5 / 3 + out["ci95"])
    assert (out["mean_a"], out["mean_b"]) == (4.0, pytest.approx(7 / 3))
    swapped = report.paired_difference(frame, "accuracy", "model", "b", "a")
    assert swapped["difference"] == pytest.approx(-5 / 3)


def test_paired_difference_refuses_unpaired_or_repeated_seeds():
    frame = _frame([{"seed": 0, "model": "a", "accuracy": 1.0}, {"seed": 1, "model": "a", "accuracy": 2.0},
                    {"seed": 0, "model": "b", "accuracy": 1.5}, {"seed": 2, "model": "b", "accuracy": 1.5}])
    with pytest.raises(ValueError, match=r"unpaired seeds: model == 'a' only has \[1\], model == 'b' only has \[2\]"):
        report.paired_difference(frame, "accuracy", "model", "a", "b")
    twice = _frame([{"seed": 0, "model": "a", "lr": lr, "accuracy": 1.0} for lr in (0.1, 0.01)]
                   + [{"seed": 0, "model": "b", "lr": 0.1, "accuracy": 1.0}])
    with pytest.raises(ValueError, match=r"more than one run for seed\(s\) \[0\]"):
        report.paired_difference(twice, "accuracy", "model", "a", "b")
    with pytest.raises(ValueError, match=r"no runs with model == 'c'"):
        report.paired_difference(frame, "accuracy", "model", "a", "c")
    with pytest.raises(KeyError, match="no column 'acc'"):
        report.paired_difference(frame, "acc", "model", "a", "b")


def test_timings_table_takes_wall_time_from_records(tmp_path):
    results.write_record("nb", {"profile": "cpu"}, [], started=time.time() - 120, results_dir_=tmp_path)
    results.write_record("bench_x", {"profile": "cpu"}, [], started=time.time() - 5, results_dir_=tmp_path)
    t = report.timings_table(tmp_path)
    assert list(t["notebook"]) == ["nb"] and abs(t["minutes"].iloc[0] - 2.0) < 0.1


def test_paper_runs_table_groups_the_committed_runs(tmp_path):
    assert report.paper_runs_table("nb", {"accuracy": 2}, results_dir=tmp_path) is None
    runs = [{"setting": {"model": m}, "seed": s, "metrics": {"accuracy": acc}}
            for m, accs in (("a", (1.0, 2.0, 3.0)), ("b", (5.0,))) for s, acc in enumerate(accs)]
    results.write_record("nb", {"profile": "paper"}, runs, results_dir_=tmp_path)
    t = report.paper_runs_table("nb", {"accuracy": 2}, by=["model"], results_dir=tmp_path,
                                paper_values=lambda key, metric: {"a": 1.5}.get(key[0]))
    assert list(t.index) == ["a, accuracy", "b, accuracy"]
    assert t.loc["a, accuracy"].tolist()[:6] == ["1.50", "2.00", "1.00", 3, "[-0.48, 4.48]", "0.50"]
    assert t.loc["b, accuracy"].tolist()[:6] == ["", "5.00", "", 1, "", ""]


# --------------------------------------------------------------------------- claims -----
from pathlib import Path  # noqa: E402

from fashionlib import claims  # noqa: E402

COMMITTED = Path(__file__).resolve().parent.parent / "book" / "results"


def _claim(**kw):
    base = dict(paper="A", claim="acc", reference="Table 2", notebook="nb", metric="accuracy", paper_value=90.0,
                tolerance=0.5)
    base.update(kw)
    return claims.Claim(**base)


def _write(tmp_path, profile, values, **setting):
    runs = [{"setting": setting or {"model": "m"}, "seed": s, "metrics": {"accuracy": v}} for s, v in enumerate(values)]
    results.write_record("nb", {"profile": profile}, runs, results_dir_=tmp_path)


@pytest.mark.parametrize("profile,values,kw,status", [
    ("paper", [89.5], {}, "reproduced"),                        # exactly paper - tolerance
    ("paper", [89.4, 89.6], {}, "reproduced"),                  # the same, as a mean with float round-off
    ("paper", [89.49], {}, "not reproduced"),
    ("paper", [95.0], {}, "reproduced"),                        # one-sided: above is fine
    ("paper", [90.5], {"two_sided": True}, "reproduced"),       # exactly the upper limit
    ("paper", [90.51], {"two_sided": True}, "above the paper"),
    ("paper", [89.0], {"two_sided": True}, "not reproduced"),
    ("paper", [float("nan")], {}, "no valid value"),
    ("paper", [90.0, float("nan")], {}, "no valid value"),
    ("paper", [91.0], {"paper_value": None}, "measured"),
    ("cpu", [95.0], {}, "reduced run"),                         # no verdict from a reduced run
    ("smoke", [95.0], {}, "reduced run"),
    ("paper", [95.0], {"offline_reason": "no data"}, "not reproducible offline"),
    ("paper", [95.0], {"metric": None}, "not reproducible offline"),
    ("paper", [95.0], {"where": {"model": "other"}}, "setting not in the run"),
])
def test_claim_status_edges(tmp_path, profile, values, kw, status):
    _write(tmp_path, profile, values)
    row = claims.claim_status(_claim(**kw), tmp_path)
    assert row["status"] == status
    if status not in ("not reproducible offline", "setting not in the run"):
        assert row["profile"] == profile and row["n"] == len(values)


def test_a_renamed_metric_or_setting_key_is_an_error_not_not_run_yet(tmp_path):
    assert claims.claim_status(_claim(), tmp_path)["status"] == "not run yet"
    _write(tmp_path, "paper", [91.0])
    with pytest.raises(KeyError, match="metric 'acc' is not in the runs"):
        claims.claim_status(_claim(metric="acc"), tmp_path)
    with pytest.raises(KeyError, match="setting 'arch' is not a column"):
        claims.claim_status(_claim(where={"arch": "m"}), tmp_path)


def test_status_prefers_the_paper_profile_and_reads_the_newest_record(tmp_path):
    _write(tmp_path, "paper", [89.0])
    _write(tmp_path, "cpu", [95.0])       # newer, but a reduced run
    row = claims.claim_status(_claim(), tmp_path)
    assert (row["status"], row["profile"], row["value"]) == ("not reproduced", "paper", 89.0)
    _write(tmp_path, "paper", [89.8, 90.2, 90.0])
    row = claims.claim_status(_claim(), tmp_path)
    assert (row["status"], row["value"], row["n"]) == ("reproduced", pytest.approx(90.0), 3)
    assert row["ci95"] == pytest.approx(4.303 * 0.2 / 3 ** 0.5, abs=1e-3)  # std 0.2, t_{0.975,2} = 4.303


def test_chosen_on_validation_and_paired_claims(tmp_path):
    runs = [{"setting": {"model": m, "edgenet": e}, "seed": s, "metrics": {"accuracy": acc, "val_accuracy": val}}
            for m, e, s, acc, val in [("a", True, 0, 91.0, 93.0), ("a", True, 1, 92.0, 93.0),
                                      ("b", True, 0, 95.0, 92.0), ("b", True, 1, 96.0, 92.0),
                                      ("a", False, 0, 90.0, 90.0), ("a", False, 1, 90.0, 90.0)]]
    results.write_record("nb", {"profile": "paper"}, runs, results_dir_=tmp_path)
    chosen = claims.claim_status(_claim(where={"edgenet": True}, choose_on="val_accuracy", group=("model",)), tmp_path)
    assert (chosen["value"], chosen["n"]) == (91.5, 2), "the higher validation mean (model a), not the higher test mean"
    paired = claims.claim_status(_claim(where={"model": "a"}, paper_value=None,
                                        paired=("edgenet", True, False, ("seed",))), tmp_path)
    assert (paired["status"], paired["value"], paired["n"]) == ("measured", 1.5, 2)  # differences 1 and 2


EXPECTED_STATUS = {  # from the committed records; a renamed metric key or a changed record fails this
    "Improved CNN test accuracy (%)": ("not reproduced", "paper", "91.95 ± 0.54 (n=3)"),
    "Micro-average ROC AUC": ("not reproduced", "paper", "0.997 ± 0.000 (n=3)"),
    "Shirt, the hardest class: F1": ("not reproduced", "paper", "0.76 ± 0.02 (n=3)"),
    "CNN test accuracy (%)": ("above the paper", "paper", "90.78 ± 0.12 (n=3)"),
    "LeNet test accuracy (%)": ("above the paper", "paper", "89.86 ± 0.26 (n=3)"),
    "LSTM test accuracy (%)": ("above the paper", "paper", "89.40 ± 0.20 (n=3)"),
    "BiLSTM test accuracy (%)": ("above the paper", "paper", "89.29 ± 1.03 (n=3)"),
    "Improved CNN, setting chosen on validation (A5): test accuracy (%)": ("not reproduced", "paper",
                                                                          "92.46 ± 0.64 (n=2)"),
    "Batch size 256, the best in Table 4: accuracy (%)": ("not run yet", "", ""),
    "Basic CNN: validation loss falls, then rises (share of epochs after its minimum)": ("not reproduced", "paper",
                                                                                         "0.01 ± 0.06 (n=3)"),
    "Improved CNN: validation loss below training loss (share of epochs)": ("not reproduced", "paper",
                                                                            "0.31 ± 0.08 (n=3)"),
    "Improved CNN: training accuracy below validation accuracy (share of epochs)": ("not reproduced", "paper",
                                                                                    "0.28 ± 0.09 (n=3)"),
    "Improved CNN, Keras-tutorial protocol (all 60,000 images, last epoch): test accuracy (%)": ("not run yet", "",
                                                                                                 ""),
    "Diagnostic: the same runs at the epoch chosen on the test set (%)": ("not run yet", "", ""),
    "Improved CNN minus basic CNN, paired over seeds (points; abstract: 4.6)": ("setting not in the run", "paper",
                                                                                ""),
    "BEiT + EdgeNet + balancing, best validation accuracy (%)": ("not reproducible offline", "", ""),
    # study B: the committed standin records (B0: 2 pretraining seeds; B2: 10 seeds on the claim cells), on the
    # long-tailed held-out set, Holm-adjusted over the claim family (claims.standin_differences)
    "EdgeNet improves the backbones (accuracy on the long-tailed held-out set, on - off, points)": (
        "supported on the stand-in", "standin", "0.89 ± 0.44 (n=10)"),
    "EdgeNet improves BEiT (accuracy on the long-tailed held-out set, on - off, points)": (
        "supported on the stand-in", "standin", "0.88 ± 0.87 (n=10)"),
    "Balancing (the paper's resampling) helps Swin V2 (accuracy on the long-tailed held-out set, with - without, "
    "points)": ("contradicted on the stand-in", "standin", "-6.32 ± 2.08 (n=10)"),
    "Balancing helps DeiT": ("not reproducible offline", "", ""),
    "Validation accuracy above training accuracy (BEiT + EdgeNet + resampling; long-tailed held-out minus training "
    "accuracy, points)": ("contradicted on the stand-in", "standin", "-5.92 ± 4.07 (n=10)"),
}


def test_every_claim_keeps_its_status_from_the_committed_records():
    table = claims.status_table(results_dir=COMMITTED)
    got = {r["claim"]: (r["status"], r["profile"], r["reproduced (mean ± 95% CI)"]) for _, r in table.iterrows()}
    assert got == EXPECTED_STATUS
    assert len({c.claim for c in claims.CLAIMS}) == len(claims.CLAIMS)


def test_best_group_chooses_on_validation_not_on_test():
    frame = _frame([{"seed": s, "model": m, "lr": lr, "accuracy": acc, "val_accuracy": val}
                    for s, m, lr, acc, val in [(0, "a", 0.1, 99.0, 90.0), (1, "a", 0.1, 99.0, 90.2),
                                               (0, "b", 0.1, 80.0, 91.0), (1, "b", 0.1, 80.0, 89.8),
                                               (0, "b", 0.01, 70.0, 90.5), (1, "b", 0.01, 70.0, 90.5)]])
    assert report.best_group(frame, ["model", "lr"]) == ("b", 0.01)  # validation means 90.1, 90.4, 90.5
    assert report.best_group(frame, ["model"], "accuracy") == ("a",)


FAMILY = {"beit_micro": "BEiT", "swinv2_micro": "Swin V2", "vit_micro": "ViT"}


def _b2_runs(seeds, value):
    """B2-shaped runs (the settings and metrics the stand-in's claims read); ``value(seed, backbone, edgenet,
    balance)`` gives the long-tailed held-out accuracy, the other metrics follow from it."""
    return [{"setting": {"backbone": b, "family": FAMILY[b], "edgenet": e, "balance": bal, "pretrain_seed": s % 2},
             "seed": s, "metrics": {"lt_accuracy": value(s, b, e, bal), "balanced_accuracy": value(s, b, e, bal) - 10,
                                    "macro_f1": value(s, b, e, bal) / 100, "train_accuracy": 60.0 + (s % 3) - 1}}
            for s in seeds for b in ("beit_micro", "swinv2_micro") for e in (True, False) for bal in ("none", "resample")]


def test_study_b_claims_read_the_agreed_b2_columns(tmp_path):
    """B2's runs: settings backbone, family, edgenet, balance; metric lt_accuracy in percent. A cpu record is a
    reduced run; the runs of one seed are averaged before pairing (one pair per seed)."""
    acc = {("swinv2_micro", True, "resample"): 40.0, ("swinv2_micro", False, "resample"): 37.0,
           ("swinv2_micro", True, "none"): 36.0, ("swinv2_micro", False, "none"): 35.0,
           ("beit_micro", True, "resample"): 30.0, ("beit_micro", False, "resample"): 31.0,
           ("beit_micro", True, "none"): 20.0, ("beit_micro", False, "none"): 29.0}
    results.write_record("b2_backbones", {"profile": "cpu"}, _b2_runs([0], lambda s, b, e, bal: acc[b, e, bal]),
                         results_dir_=tmp_path)
    rows = {c.standin_row: claims.claim_status(c, tmp_path) for c in claims.CLAIMS if c.standin}
    edgenet = rows["EdgeNet on - off (claim backbones): lt_accuracy"]
    swin = rows["resample - none (Swin V2): lt_accuracy"]
    gap = rows["held-out - training accuracy (BEiT + EdgeNet + resample): lt_accuracy"]
    assert (edgenet["value"], edgenet["n"]) == (pytest.approx((126 - 132) / 4), 1)  # means 31.5 - 33.0, seed 0
    assert (swin["value"], swin["n"]) == (pytest.approx(40 - 36), 1)  # EdgeNet on only
    assert gap["value"] == pytest.approx(30.0 - 59.0)  # BEiT + EdgeNet + resample: held-out minus training
    assert {r["status"] for r in rows.values()} == {"reduced run"}
    deit = next(c for c in claims.CLAIMS if "DeiT" in c.claim)
    assert claims.claim_status(deit, tmp_path)["status"] == "not reproducible offline"  # untestable: no DeiT


GAIN = [1, 2, 0.5, 1.5, -0.2, 1.2]  # p = 0.025 alone, above 0.05 after Holm over the four claims


@pytest.mark.parametrize("gain, verdict", [([2 * g + 3 for g in GAIN], "supported on the stand-in"),
                                           ([-2 * g - 3 for g in GAIN], "contradicted on the stand-in"),
                                           (GAIN, "not shown on the stand-in")])
def test_standin_claims_are_judged_after_holm_over_the_claim_family(tmp_path, gain, verdict):
    noise = [1, -1, 0.5, -0.5, 0.2, -0.2]  # resampling: no effect (p = 1)
    results.write_record("b2_backbones", {"profile": "standin"}, _b2_runs(range(6), lambda s, b, e, bal: (
        50.0 + s + (gain[s] if e else 0.0) + (noise[s] if bal == "resample" else 0.0))), results_dir_=tmp_path)
    table = claims.standin_differences("standin", tmp_path)
    row = table.loc["EdgeNet on - off (claim backbones): lt_accuracy"]
    assert (row["verdict"], row["n"]) == (verdict, 6)
    assert row["difference"] == pytest.approx(sum(gain) / 6)
    assert row["by_pretrain_seed"].startswith("0: ") and "(n=3)" in row["by_pretrain_seed"]
    if gain is GAIN:  # significant alone, not after the correction: the CI excludes zero, Holm does not
        assert row["ci_low"] > 0 and row["p"] < 0.05 < row["p_holm"]
        assert row["mde80"] > row["difference"]
    swin = table.loc["resample - none (Swin V2): lt_accuracy"]
    assert (swin["verdict"], swin["p_holm"]) == ("not shown on the stand-in", pytest.approx(1.0))
    rows = {c.standin_row: claims.claim_status(c, tmp_path) for c in claims.CLAIMS if c.standin}
    assert rows["EdgeNet on - off (claim backbones): lt_accuracy"]["status"] == verdict
    assert set(table.loc[table["family"] == "claim: lt_accuracy"].index) == {
        f"{k}: lt_accuracy" for k in claims.STANDIN_CLAIMS}


def test_holm_and_the_minimum_detectable_difference():
    assert report.holm([0.01, 0.04, 0.03, float("nan"), 0.5]).tolist()[:3] == pytest.approx([0.04, 0.09, 0.09])
    assert report.holm([0.01, 0.04, 0.03, float("nan"), 0.5])[4] == pytest.approx(0.5)
    rng = np.random.default_rng(0)  # at the computed difference, a paired t-test on 10 pairs rejects ~80% of the time
    mde = report.min_detectable_difference(1.0, 10)
    draws = rng.normal(mde, 1.0, size=(4000, 10))
    power = (stats.ttest_1samp(draws, 0.0, axis=1).pvalue < 0.05).mean()
    assert abs(power - 0.8) < 0.025 and 0.9 < mde < 1.1


def test_paired_difference_averages_within_a_pair_and_refuses_unequal_grids():
    frame = _frame([{"seed": s, "edgenet": e, "backbone": b, "accuracy": 50.0 + s + (2.0 if e else 0.0) + (b == "x")}
                    for s in (0, 1) for e in (True, False) for b in ("x", "y")])
    d = report.paired_difference(frame, "accuracy", "edgenet", True, False, average_over=("backbone",))
    assert (d["difference"], d["n"], d["seeds"]) == (pytest.approx(2.0), 2, [0, 1])
    with pytest.raises(ValueError, match="different backbone settings"):
        report.paired_difference(frame.drop(index=frame.index[-1]), "accuracy", "edgenet", True, False,
                                 average_over=("backbone",))