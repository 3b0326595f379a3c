"""The execution report's table: the newest record of each (notebook, profile), in reading order."""

from fashionlib import book, provenance_table, results


def test_one_row_per_notebook_and_profile_from_its_newest_record_in_reading_order(tmp_path, monkeypatch):
    first, second = book.NOTEBOOKS[0], book.NOTEBOOKS[1]
    monkeypatch.setenv("FASHIONLIB_GIT_COMMIT", "aaaa")
    results.write_record(second, {"profile": "cpu"}, [], results_dir_=tmp_path)
    monkeypatch.setenv("FASHIONLIB_GIT_COMMIT", "bbbb")
    results.write_record(second, {"profile": "cpu"}, [], results_dir_=tmp_path)  # newer: this one is shown
    results.write_record(first, {"profile": "smoke"}, [], started=1.0, results_dir_=tmp_path)
    results.write_record("bench_x", {"profile": "cpu"}, [], results_dir_=tmp_path)  # not a notebook: last
    table = provenance_table.newest_records_table(tmp_path)
    assert list(table.columns) == provenance_table.COLUMNS
    assert list(zip(table["notebook"], table["profile"])) == [(first, "smoke"), (second, "cpu"), ("bench_x", "cpu")]
    assert list(table["commit"]) == ["bbbb", "bbbb", "bbbb"]
    assert table["wall time (min)"].iloc[0] > 0 and table["started"].iloc[0] == "1970-01-01 00:00"
    assert table["library versions"].iloc[0].startswith("python ")


def test_texts_name_the_device_versions_and_lock():
    prov = {"versions": {"keras": "3.0", "keras_backend": "torch", "python": "3.11", "other": "1"},
            "device": {"accelerator": "cpu", "cpu_count": 4}}
    assert provenance_table.versions_text(prov) == "python 3.11, keras 3.0 (torch)"
    assert provenance_table.device_text(prov) == "CPU x4"
    assert provenance_table.device_text({"device": {"accelerator": "NVIDIA H200"}}) == "NVIDIA H200"
    assert provenance_table.locked_text({**prov, "locked": False}, {}) == "no"
    assert provenance_table.locked_text(prov, {"keras": "3.1"}) == "no: keras 3.0 (lock 3.1)"
    assert provenance_table.locked_text(prov, {"keras": "3.0"}).startswith("not recorded")
