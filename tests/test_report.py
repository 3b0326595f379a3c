"""Claim status from results records: the book's summary table."""

from fashionlib import report, results


def _claim(**kw):
    base = dict(paper="A", claim="acc", reference="Table 2", notebook="nb", evidence="nb",
                measure=lambda r: r["metrics"]["acc"], paper_value=90.0, tolerance=0.5)
    base.update(kw)
    return report.Claim(**base)


def test_status_follows_the_newest_record_of_the_preferred_profile(tmp_path):
    assert report.claim_status(_claim(), tmp_path)["status"] == "not run yet"
    results.write_record("nb", {"profile": "smoke"}, {"acc": 95.0}, results_dir_=tmp_path)
    assert report.claim_status(_claim(), tmp_path)["status"] == "smoke run only"
    results.write_record("nb", {"profile": "cpu", "epochs": 5, "seeds": [0, 1]}, {"acc": 89.6},
                         results_dir_=tmp_path)
    row = report.claim_status(_claim(), tmp_path)
    assert (row["status"], row["reproduced"], row["setting"]) == ("reproduced", 89.6, "5 epochs, 2 seed(s)")
    results.write_record("nb", {"profile": "paper"}, {"acc": 89.4}, results_dir_=tmp_path)
    row = report.claim_status(_claim(), tmp_path)
    assert (row["status"], row["profile"]) == ("not reproduced", "paper")
    assert report.claim_status(_claim(measure=None), tmp_path)["status"] == "not reproducible offline"


def test_timings_table_takes_wall_time_from_records(tmp_path):
    import time

    results.write_record("nb", {"profile": "cpu"}, {}, started=time.time() - 120, results_dir_=tmp_path)
    results.write_record("bench_x", {"profile": "cpu"}, {}, started=time.time() - 5, results_dir_=tmp_path)
    t = report.timings_table(tmp_path)
    assert list(t["notebook"]) == ["nb"] and abs(t["minutes"].iloc[0] - 2.0) < 0.1


def test_two_sided_claim_says_when_the_reproduction_is_above_the_paper(tmp_path):
    results.write_record("nb", {"profile": "paper"}, {"acc": 90.6}, results_dir_=tmp_path)
    assert report.claim_status(_claim(two_sided=True), tmp_path)["status"] == "above the paper"
    assert report.claim_status(_claim(), tmp_path)["status"] == "reproduced"  # one-sided: reaching is enough
    results.write_record("nb", {"profile": "paper"}, {"acc": 90.4}, results_dir_=tmp_path / "b")
    assert report.claim_status(_claim(two_sided=True), tmp_path / "b")["status"] == "reproduced"
