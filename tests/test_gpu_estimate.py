"""``gpu_estimate.estimate_gpu_seconds``: a notebook's GPU seconds scaled from the last bench_gpu_a record."""

import pytest

from fashionlib import gpu_estimate, results


def _bench_record(tmp_path, summary, epochs=50, images=48_000):
    runs = [{"setting": {"path": "fast", "epochs": epochs, "train_images": images}, "seed": 0,
             "metrics": {"run_seconds": summary.get("fast_seconds_per_run", 1.0)}}]
    results.write_record("bench_gpu_a", {"profile": "paper"}, runs, results_dir_=tmp_path,
                         extras={"summary": {"device": "Test GPU", **summary}})
    return tmp_path


@pytest.fixture
def measured(tmp_path):
    """A record of all three paths: fast 40 s a run, workers 150 s for 10, vmap 20 s for a group of 10."""
    return _bench_record(tmp_path, {"epochs": 50, "train_images": 48_000, "fast_seconds_per_run": 40.0,
                                    "workers_block_seconds": 150.0, "workers_runs": 10,
                                    "vmap_block_seconds": 20.0, "vmap_runs": 10})


@pytest.mark.parametrize("args, kw, expected", [
    ((10, 50, None, "fast"), {}, 400.0),            # 10 runs x 40 s
    ((3, 25, 24_000, "fast"), {}, 30.0),            # 3 x 40 s x 1/2 epochs x 1/2 images
    ((20, 50, None, "workers"), {}, 300.0),         # 20 / 10 x 150 s
    ((10, 50, None, "vmap"), {}, 20.0),             # one group of 10: as measured
    ((30, 50, None, "vmap"), {"group_size": 3}, 200.0),  # ten groups of 3, each charged as a full group
    ((25, 50, None, "vmap"), {"group_size": 20}, 60.0),  # a group of 20 (2 x 20 s) and one of 5 (20 s)
])
def test_estimate_scales_the_measured_path(measured, args, kw, expected):
    est = gpu_estimate.estimate_gpu_seconds(*args, results_dir=measured, **kw)
    assert est.seconds == pytest.approx(expected)
    assert est.path == args[3] and "Test GPU" in est.basis and "upper bound" not in est.basis


def test_a_path_the_record_did_not_measure_falls_back_to_fast_and_says_so(tmp_path):
    rec = _bench_record(tmp_path, {"run_seconds_median": 38.0})  # the shape of records before the vmap bench
    est = gpu_estimate.estimate_gpu_seconds(10, 50, None, "vmap", results_dir=rec)
    assert est.seconds == pytest.approx(380.0)
    assert "no vmap measurement" in est.basis and "upper bound" in est.basis


def test_the_committed_record_gives_an_estimate():
    est = gpu_estimate.estimate_gpu_seconds(10, 50, None, "fast")
    assert "bench_gpu_a" in est.record and "book/results/paper" in est.record
    assert 10 * 10 < est.seconds < 10 * 120  # ten paper runs: between 10 s and 2 min each


@pytest.mark.parametrize("args, kw, match", [
    ((0, 50, None, "fast"), {}, "runs must be an integer >= 1"),
    ((1, 50, 0, "fast"), {}, "train_size must be None"),
    ((1, 50, None, "gpu"), {}, "unknown path 'gpu'"),
    ((1, 50, None, "fast"), {"group_size": 3}, "group_size=3 applies to path 'vmap' only"),
])
def test_bad_arguments_are_refused(measured, args, kw, match):
    with pytest.raises(ValueError, match=match):
        gpu_estimate.estimate_gpu_seconds(*args, results_dir=measured, **kw)


def test_no_record_is_a_clear_error(tmp_path):
    with pytest.raises(ValueError, match="no paper-profile bench_gpu_a record.*Fix: run benchmarks/bench_gpu_a.py"):
        gpu_estimate.estimate_gpu_seconds(1, 50, None, "fast", results_dir=tmp_path)
