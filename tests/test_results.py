"""Results records: provenance, atomic writes that survive interruption, loading for the book."""

import json
import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from fashionlib import results


def test_record_carries_provenance(tmp_path):
    t0 = time.time()
    path = results.write_record("nb", {"profile": "smoke", "epochs": 2, "seed": 3}, {"acc": 0.5},
                                seed=3, started=t0, results_dir_=tmp_path)
    assert path.parent == tmp_path / "smoke" / "nb"
    rec = json.loads(path.read_text())
    prov = rec["provenance"]
    assert prov["parameters"]["epochs"] == 2 and prov["seed"] == 3 and prov["profile"] == "smoke"
    assert prov["git_commit"] != "" and prov["versions"]["python"]
    assert "numpy" in prov["versions"] and prov["device"]["cpu_count"] >= 1
    assert prov["wall_time_s"] >= 0 and prov["started"].startswith(time.strftime("%Y", time.gmtime(t0)))
    assert rec["metrics"] == {"acc": 0.5}


def test_load_and_latest(tmp_path):
    for acc in (0.1, 0.2):
        results.write_record("nb", {"profile": "cpu"}, {"acc": acc}, results_dir_=tmp_path)
        time.sleep(1.1)
    results.write_record("nb", {"profile": "paper"}, {"acc": 0.9}, results_dir_=tmp_path)
    assert [r["metrics"]["acc"] for r in results.load_records("nb", "cpu", tmp_path)] == [0.1, 0.2]
    assert results.latest_record("nb", results_dir_=tmp_path)["metrics"]["acc"] == 0.9
    assert results.latest_record("nb", ("cpu",), tmp_path)["metrics"]["acc"] == 0.2
    assert results.latest_record("other", results_dir_=tmp_path) is None


def test_corrupt_record_is_named(tmp_path):
    bad = tmp_path / "cpu" / "nb" / "x.json"
    bad.parent.mkdir(parents=True)
    bad.write_text("{not json")
    with pytest.raises(ValueError, match="x.json is not valid JSON"):
        results.load_records("nb", "cpu", tmp_path)


def test_failed_write_keeps_old_file(tmp_path, monkeypatch):
    target = tmp_path / "rec.json"
    results.atomic_write_text(target, "old")

    def boom(*a, **k):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", boom)
    with pytest.raises(OSError):
        results.atomic_write_text(target, "new")
    assert target.read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["rec.json"], "no temporary file left behind"


def test_sigkill_during_write_keeps_old_record(tmp_path):
    """Kill -9 a process in the middle of writing a large record: the previous copy stays intact."""
    target = tmp_path / "rec.json"
    results.atomic_write_text(target, json.dumps({"v": "old"}))
    script = textwrap.dedent(f"""
        import os, sys
        from fashionlib import results
        real_fsync = os.fsync
        def slow_fsync(fd):
            print("writing", flush=True)
            import time; time.sleep(60)
        os.fsync = slow_fsync
        results.atomic_write_text({str(target)!r}, "x" * 50_000_000)
    """)
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "writing"
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    assert json.loads(target.read_text()) == {"v": "old"}


def test_commit_of_a_copied_tree_without_git_comes_from_the_environment(tmp_path, monkeypatch):
    monkeypatch.setattr(results, "REPO_ROOT", tmp_path)  # a copy of the tree with no .git folder
    monkeypatch.setenv("FASHIONLIB_GIT_COMMIT", "a85148cb5d98")
    assert results.git_commit() == "a85148cb5d98"
    monkeypatch.delenv("FASHIONLIB_GIT_COMMIT")
    assert results.git_commit() == "unknown"


def test_device_names_a_jax_gpu(monkeypatch):
    class FakeDevice:
        device_kind = "NVIDIA H200"

    class FakeJax:
        @staticmethod
        def devices(kind=None):
            if kind != "gpu":
                raise AssertionError("asks for GPU devices only")
            return [FakeDevice()]

    monkeypatch.delitem(sys.modules, "torch", raising=False)
    monkeypatch.setitem(sys.modules, "jax", FakeJax)
    assert results.device_info()["accelerator"] == "NVIDIA H200"

    class NoGpuJax:
        @staticmethod
        def devices(kind=None):
            raise RuntimeError("Unknown backend: 'gpu' requested")

    monkeypatch.setitem(sys.modules, "jax", NoGpuJax)
    assert results.device_info()["accelerator"] == "cpu"


def test_runner_names_the_commit_a_run_started_from(monkeypatch):
    """A record written after a new commit (a long run) still names the commit the run started from."""
    monkeypatch.setenv("FASHIONLIB_GIT_COMMIT", "0123456789ab")  # what the runner sets at the start
    assert results.provenance()["git_commit"] == "0123456789ab"
