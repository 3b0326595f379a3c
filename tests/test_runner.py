"""The runner: parameters injected, outputs atomic, up-to-date notebooks skipped, parallel runs independent."""

import json
import os
import subprocess
import sys

import nbformat
import pytest

from fashionlib import run


def _injected(nb):
    cells = [c for c in nb.cells if "injected-parameters" in c.metadata.get("tags", [])]
    assert len(cells) == 1
    return cells[0].source


def test_prepare_only_injects_profile_and_overrides(tmp_path):
    out = run.run_notebook("a0_fashion_mnist", "smoke", {"seed": 4}, out_dir=tmp_path, prepare_only=True)
    src = _injected(nbformat.read(out, as_version=4))
    assert 'profile = "smoke"' in src and "seed = 4" in src and "samples_per_class = 3" in src


@pytest.mark.slow
def test_execute_then_skip_when_up_to_date(tmp_path, capsys):
    out = run.run_notebook("a0_fashion_mnist", "smoke", out_dir=tmp_path, results_dir=tmp_path / "r")
    nb = nbformat.read(out, as_version=4)
    assert nb.metadata["fashionlib"]["status"] == "ok"
    records = list((tmp_path / "r" / "smoke" / "a0_fashion_mnist").glob("*.json"))
    assert len(records) == 1
    assert json.loads(records[0].read_text())["metrics"]["n_train"] == 48_000
    mtime = out.stat().st_mtime_ns
    run.run_notebook("a0_fashion_mnist", "smoke", out_dir=tmp_path, results_dir=tmp_path / "r")
    assert "up to date" in capsys.readouterr().out and out.stat().st_mtime_ns == mtime
    run.run_notebook("a0_fashion_mnist", "smoke", {"seed": 1}, out_dir=tmp_path, results_dir=tmp_path / "r")
    assert out.stat().st_mtime_ns != mtime, "changed parameters must re-run"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a0_fashion_mnist.ipynb", "r"], "no temp left"


@pytest.mark.slow
def test_failing_notebook_leaves_nothing_half_written(tmp_path):
    from papermill.exceptions import PapermillExecutionError

    with pytest.raises(PapermillExecutionError, match="lacks train-images"):
        run.run_notebook("a0_fashion_mnist", "smoke", {"data_dir": str(tmp_path)}, out_dir=tmp_path / "o",
                         results_dir=tmp_path / "r")
    assert list((tmp_path / "o").iterdir()) == []
    assert not (tmp_path / "r").exists()


@pytest.mark.slow
def test_two_parallel_smoke_runs_do_not_interfere(tmp_path):
    """Stress: the same notebook twice at once, in separate output folders."""
    procs = [subprocess.Popen([sys.executable, "-m", "fashionlib", "run", "a0_fashion_mnist", "--profile", "smoke",
                               "--out", str(tmp_path / f"o{i}"), "--results-dir", str(tmp_path / f"r{i}")],
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True) for i in range(2)]
    for p in procs:
        out, _ = p.communicate(timeout=300)
        assert p.returncode == 0, out
    for i in range(2):
        nb = nbformat.read(tmp_path / f"o{i}" / "a0_fashion_mnist.ipynb", as_version=4)
        assert nb.metadata["fashionlib"]["status"] == "ok"
        assert len(list((tmp_path / f"r{i}" / "smoke" / "a0_fashion_mnist").glob("*.json"))) == 1
