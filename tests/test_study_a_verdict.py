"""The values the study-A pages glue from the A6 verdict: one per row and sentence, NaN before the records."""

import math

import pandas as pd

from fashionlib import claims, study_a_verdict

TARGET = 92.87


def verdict(low_of=lambda protocol, model: 92.0, width=0.5, n=5, reached=2, chance=0.3):
    """A table shaped like study_a_verdict.a6_verdict, with CIs [low, low + width] set per row."""
    keys = [(p, m) for p in claims.A6_PROTOCOLS for m in claims.A6_READINGS] + [("diagnostic", "improved_cnn_strided")]
    rows = {(p, m): {"protocol": f"label {p}", "reading": claims.A6_READINGS[m], "mean": low_of(p, m) + width / 2,
                     "low": low_of(p, m), "high": low_of(p, m) + width, "n": n, "chance": chance, "reached": reached,
                     "status": "x", "note": f"note {p}"} for p, m in keys}
    return pd.DataFrame.from_dict(rows, orient="index")


def claim(profile="paper", value=91.5, ci95=0.25, n=5, normal=0.0004):
    return {"profile": profile, "value": value, "ci95": ci95, "n": n, "chance": {"normal": normal}}


def test_a6_page_values_give_each_row_and_say_where_the_paper_lies():
    v = verdict(low_of=lambda p, m: 92.7 if p == "paper_text" else 91.0 if m == "improved_cnn" else 92.5)
    out = study_a_verdict.a6_page_values(v, TARGET)
    assert (out["a6v_text_stride_low"], out["a6v_text_stride_high"], out["a6v_text_stride_n"]) == (92.7, 93.2, 5)
    assert isinstance(out["a6v_diag_reached"], int) and out["a6v_ours_plain_chance"] == "0.30"
    assert out["a6v_text_words"] == "contains the paper's number in its 95% CI"
    assert out["a6v_plain_words"] == "reaches it under at least one protocol"  # the paper_text row reaches it
    assert out["a6v_ours_words"] == "compatible with it"  # 92.5-93.0 holds 92.87
    low = study_a_verdict.a6_page_values(verdict(low_of=lambda p, m: 90.0), TARGET)
    assert (low["a6v_text_words"], low["a6v_plain_words"]) == ("stays below the paper's number",
                                                              "stays below it under every protocol")
    assert low["a6v_ours_words"].startswith("below it")
    high = study_a_verdict.a6_page_values(verdict(low_of=lambda p, m: 93.0), TARGET)
    assert high["a6v_text_words"] == "lies above the paper's number"
    assert set(out) == set(study_a_verdict.a6_page_values(None, TARGET))  # the same names before any record
    none = study_a_verdict.a6_page_values(None, TARGET)
    assert math.isnan(none["a6v_keras_plain_n"]) and none["a6v_diag_chance"] == "unknown"


def test_a6_page_table_shows_the_ci_and_the_seeds_that_reached():
    t = study_a_verdict.a6_page_table(verdict(reached=3), TARGET)
    assert list(t.columns) == ["mean", "95% CI", "n", f"P(one run >= {TARGET})", "seeds that did", "note"]
    assert t.loc[("label ours", claims.A6_READINGS["improved_cnn"]), "95% CI"] == "[92.00, 92.50]"
    assert set(t["seeds that did"]) == {"3 of 5"}


def test_a1_page_values_wait_for_both_paper_records():
    v = verdict(low_of=lambda p, m: 92.0 if m == "improved_cnn" else 92.4)
    out = study_a_verdict.a1_page_values(claim(), v)
    assert (out["a1v_mean"], out["a1v_low"], out["a1v_high"], out["a1v_n"]) == (91.5, 91.25, 91.75, 5)
    assert out["a1v_chance"] == "below 0.001"
    assert (out["a1v_ours_plain_mean"], out["a1v_ours_stride_mean"], out["a1v_text_chance"]) == (92.25, 92.65, "0.30")
    for waiting in (study_a_verdict.a1_page_values(claim(profile="cpu"), v),
                    study_a_verdict.a1_page_values(claim(), None)):
        assert set(waiting) == set(out) and math.isnan(waiting["a1v_mean"]) and waiting["a1v_text_chance"] == "unknown"


def test_a5_page_values_name_the_chosen_reading_and_whether_a6_reaches_the_paper():
    record = {"extras": {"chosen": {"model": "improved_cnn"}}}
    v = verdict(low_of=lambda p, m: 92.7 if p == "paper_text" else 92.0)
    out = study_a_verdict.a5_page_values(claim(), v, record, TARGET)
    assert out["a5v_reading"] == claims.A6_READINGS["improved_cnn"] and out["a5v_mean"] == 91.5
    assert (out["a5v_text_words"], out["a5v_ours_words"]) == ("reaches", "does not reach")
    assert (out["a5v_ours_mean"], out["a5v_ours_n"]) == (92.25, 5)
    above = study_a_verdict.a5_page_values(claim(), verdict(low_of=lambda p, m: 93.0), record, TARGET)
    assert above["a5v_ours_words"] == "reaches"  # a CI above the paper's number reaches it too
    waiting = study_a_verdict.a5_page_values(claim(), v, None, TARGET)
    assert set(waiting) == set(out) and waiting["a5v_reading"] == "(no committed paper-profile run yet)"
    assert (waiting["a5v_text_n"], waiting["a5v_ours_words"]) == (0, "cannot be said yet")
