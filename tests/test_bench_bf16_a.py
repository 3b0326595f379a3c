"""benchmarks/bench_bf16_a.py: bad arguments refused before any work; the committed record's verdict follows its CI."""

import json
import os
import subprocess
import sys

import pytest

from tests.conftest import REPO


@pytest.mark.parametrize("args, message", [(["--seeds", "1", "1"], "distinct integers"),
                                           (["--margin", "0"], "--margin > 0")])
def test_bad_arguments_are_refused_before_any_work(tmp_path, args, message):
    proc = subprocess.run([sys.executable, str(REPO / "benchmarks" / "bench_bf16_a.py"), *args,
                           "--results-dir", str(tmp_path)], capture_output=True, text=True, timeout=120, cwd=REPO,
                          env=dict(os.environ, PYTHONPATH=str(REPO)))
    assert proc.returncode == 2 and message in proc.stderr, proc.stderr[-2000:]
    assert not any(tmp_path.iterdir())


def test_committed_record_offers_bf16_only_inside_the_margin():
    paths = sorted((REPO / "book" / "results" / "cpu" / "bench_bf16_a").glob("*.json"))
    assert paths, "no committed bench_bf16_a record"
    rec = json.loads(paths[-1].read_text())
    val = rec["extras"]["paired_bf16_minus_float32"]["val_accuracy"]
    speed = rec["extras"]["paired_bf16_minus_float32"]["seconds_per_epoch"]
    assert val["n"] >= 3 and len({r["seed"] for r in rec["runs"]}) == val["n"]
    offered = val["ci_low"] > -rec["extras"]["margin_points"] and speed["ci_high"] < 0
    assert rec["extras"]["verdict"].startswith("offer" if offered else "do not offer")
