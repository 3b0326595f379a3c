"""benchmarks/bench_gpu_a.py at a tiny size on the CPU: the three paths in one invocation, the ratios, the record."""

import json
import os
import subprocess
import sys

import pytest

from tests.conftest import REPO


@pytest.mark.slow
def test_bench_times_fast_workers_and_vmap_in_one_call(tmp_path):
    pytest.importorskip("jax")
    env = dict(os.environ, PYTHONPATH=str(REPO), KERAS_BACKEND="jax", JAX_PLATFORMS="cpu",
               FASHIONLIB_CACHE=str(tmp_path / "cache"))
    proc = subprocess.run([sys.executable, str(REPO / "benchmarks" / "bench_gpu_a.py"), "--seeds", "2", "--jobs", "2",
                           "--fast-runs", "1", "--epochs", "1", "--train-size", "300", "--batch-size", "64",
                           "--default-epochs", "0", "--results-dir", str(tmp_path / "res")],
                          capture_output=True, text=True, timeout=1500, cwd=REPO, env=env)
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-3000:]
    (path,) = (tmp_path / "res" / "cpu" / "bench_gpu_a").glob("*.json")
    record = json.loads(path.read_text())
    runs, summary = record["runs"], record["extras"]["summary"]
    assert sorted((r["setting"]["path"], r["seed"]) for r in runs) == [("fast", 0), ("vmap", 0), ("vmap", 1),
                                                                      ("workers", 0), ("workers", 1)]
    for path_ in ("fast", "workers", "vmap"):
        assert summary[f"{path_}_seconds_per_10_seeds"] > 0, path_
    assert summary["fast_seconds_per_10_seeds"] == pytest.approx(10 * summary["fast_seconds_per_run"])
    assert summary["vmap_seconds_per_10_seeds"] == pytest.approx(5 * summary["vmap_block_seconds"])
    for path_ in ("workers", "vmap"):
        assert summary[f"{path_}_speedup_per_10_seeds"] == pytest.approx(
            summary["fast_seconds_per_10_seeds"] / summary[f"{path_}_seconds_per_10_seeds"])
        assert f"{path_} " in proc.stdout and "per 10 seeds" in proc.stdout
    # the three paths train the same run for seed 0 (the vectorised one up to rounding): the same test accuracy
    acc = {r["setting"]["path"]: r["metrics"]["accuracy"] for r in runs if r["seed"] == 0}
    assert acc["workers"] == acc["fast"] and abs(acc["vmap"] - acc["fast"]) <= 0.02, acc


def test_bad_paths_are_refused_before_any_work(tmp_path):
    proc = subprocess.run([sys.executable, str(REPO / "benchmarks" / "bench_gpu_a.py"), "--paths", "fast,gpu",
                           "--results-dir", str(tmp_path)], capture_output=True, text=True, timeout=120, cwd=REPO,
                          env=dict(os.environ, PYTHONPATH=str(REPO)))
    assert proc.returncode == 2 and "--paths takes a comma-separated list from fast, workers, vmap" in proc.stderr
    assert not any(tmp_path.iterdir())
