"""Study A's vectorised path (``fast_path="vmap"``, ``fashionlib.train_vmap``) against the single-run fast path.

Per seed the vectorised path must train the run that ``train_keras.fit`` trains on its fast path: the same
initial weights, data order, dropout masks and per-step learning rate, hence the same history and final
weights up to rounding (a vectorised convolution sums in another order). The three members also differ in
schedule (one group may), so one member given another's rates would show. Measured on the CPU (JAX 0.10.2,
Keras 3.15.1, 3 seeds, 2 epochs of 7 steps): weights differ by at most 6.8e-6 (Adam at 3e-3 scales every
rounding difference of a small gradient up to a step), histories by 2.4e-7, learning-rate logs and test
accuracies not at all. The tolerances (1e-4 on weights, 1e-5 on history numbers, 1e-7 relative on rates)
are 15-40 times those; the broken runs of the second test differ by 1.7e-2 or more in weights and 0.06 in
history (one member given another seed, schedule or data order).
"""

import json
import subprocess
import sys
import textwrap

import pytest

from fashionlib import combinations, rules
from tests.conftest import REPO

W_TOL, H_TOL, LR_RTOL = 1e-4, 1e-5, 1e-7

JAX_SCRIPT = textwrap.dedent("""
    import dataclasses, json
    from fashionlib.backend import use_backend
    use_backend("jax")
    import numpy as np
    from fashionlib import data, keras_batches, keras_runs, train_keras, train_vmap
    d = data.prepare_data(data.load_fashion_mnist(), train_size=200)  # 7 steps of 32, the last one partial
    SEEDS = [3, 5, 8]
    # steep schedules over 14 steps (3e-3 down to 1e-5 or 1e-4), so a wrong rate at any step shows; one group
    # (run_many groups by setting: the members may differ in seed, schedule, lr and lr_end), three schedules
    base = train_keras.FitConfig(epochs=2, batch_size=32, lr=3e-3, lr_end=1e-5, schedule="paper")
    fast = [dataclasses.replace(base, seed=SEEDS[0], fast_path=True),
            dataclasses.replace(base, seed=SEEDS[1], schedule="cosine", fast_path=True),
            dataclasses.replace(base, seed=SEEDS[2], lr_end=1e-4, fast_path=True)]
    ref = keras_runs.run_many(d, fast, progress=False)        # the single-run fast path, one run after another
    vm = keras_runs.run_many(d, [dataclasses.replace(c, fast_path="vmap") for c in fast], progress=False)

    def diffs(r, g):  # r: a run of the single path; g: the same seed's run on another path
        wr, wg = r["model"].get_weights(), g["model"].get_weights()
        cols = ["loss", "accuracy", "val_loss", "val_accuracy"]
        return {"weights": max(float(np.max(np.abs(a - b))) for a, b in zip(wr, wg)),
                "history": float(np.max(np.abs(r["history"][cols].values - g["history"][cols].values))),
                "lr_rel": float(np.max(np.abs(r["lr_log"]["learning_rate"].values - g["lr_log"]["learning_rate"].values)
                                       / r["lr_log"]["learning_rate"].values)),
                "test_accuracy": abs(r["metrics"]["accuracy"] - g["metrics"]["accuracy"]),
                "columns": list(g["history"].columns) == list(r["history"].columns),
                "steps": g["lr_log"]["step"].tolist() == r["lr_log"]["step"].tolist()}

    def record(runs):
        return [{k: v for k, v in r.items() if k != "history"} for r in keras_runs.record_runs(runs)]

    rec_ref, rec_vm = record(ref), record(vm)
    for r in rec_ref + rec_vm:
        r["setting"].pop("fast_path")
        r["metrics"].pop("seconds_per_epoch")
    out = {"honest": [diffs(r, g) for r, g in zip(ref, vm)], "groups": [r["history"]["seconds"].iloc[0] for r in vm],
           "seeds": [r["seed"] for r in vm], "fast_path": [r["setting"]["fast_path"] for r in vm],
           "records_equal_but_numbers": [sorted(a) == sorted(b) and a["seed"] == b["seed"] and a["setting"] == b["setting"]
                                         and sorted(a["metrics"]) == sorted(b["metrics"])
                                         for a, b in zip(rec_ref, rec_vm)]}

    # One member at a time given something else than its single run: member 0 another seed, member 1 another
    # schedule, member 2 another data order (its epoch order reversed).
    honest_order = keras_batches.epoch_order
    def other_order(seed, epoch, n):
        order = honest_order(seed, epoch, n)
        return order[::-1].copy() if seed == SEEDS[2] else order
    keras_batches.epoch_order = other_order
    broken = [dataclasses.replace(fast[0], seed=4, fast_path="vmap"),
              dataclasses.replace(fast[1], schedule="paper", fast_path="vmap"),
              dataclasses.replace(fast[2], fast_path="vmap")]
    got = train_vmap.fit_seeds(d, broken)
    keras_batches.epoch_order = honest_order
    out["broken"] = [diffs(r, {"model": g.model, "history": g.history, "lr_log": g.lr_log, "metrics": r["metrics"]})
                     for r, g in zip(ref, got)]
    print("RESULT " + json.dumps(out))
""")


@pytest.fixture(scope="module")
def compared(tmp_path_factory):
    """Run the comparison once (JAX on the CPU, a subprocess: the test process's backend is TensorFlow)."""
    pytest.importorskip("jax")
    tmp = tmp_path_factory.mktemp("vmap")
    env = {"PYTHONPATH": str(REPO), "KERAS_BACKEND": "jax", "JAX_PLATFORMS": "cpu", "PATH": "/usr/bin:/bin",
           "HOME": str(tmp), "FASHIONLIB_CACHE": str(tmp / "cache")}
    proc = subprocess.run([sys.executable, "-c", JAX_SCRIPT], env=env, cwd=tmp, capture_output=True, text=True,
                          timeout=1200)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads([ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")][-1][7:])
    print("vmap against fast, per member:", json.dumps(out))  # the measured differences (pytest -s shows them)
    return out


@pytest.mark.slow
def test_vmap_path_trains_each_seeds_fast_path_run(compared):
    """Seed by seed: the same weights, history, learning-rate log and test accuracy as the single fast path,
    and the same record (one run per seed; the setting says fast_path='vmap')."""
    assert compared["seeds"] == [3, 5, 8] and compared["fast_path"] == ["vmap"] * 3
    assert len(set(compared["groups"])) == 1  # the three trained together (one epoch time for all)
    for seed, d in zip(compared["seeds"], compared["honest"]):
        assert d["columns"] and d["steps"], (seed, d)
        assert d["weights"] <= W_TOL, (seed, d)
        assert d["history"] <= H_TOL, (seed, d)
        assert d["lr_rel"] <= LR_RTOL, (seed, d)
        assert d["test_accuracy"] <= 1e-9, (seed, d)  # percent of 10,000 images: one image is 0.01
    assert compared["records_equal_but_numbers"] == [True] * 3


@pytest.mark.slow
@pytest.mark.parametrize("member, what", [(0, "a different seed"), (1, "a different schedule"),
                                          (2, "a different data order")])
def test_comparison_fails_when_one_member_is_given_something_else(compared, member, what):
    """The check above is sharp enough: given {what} for one member, that member's weights and history fall
    far outside the tolerances (and a different schedule also its learning-rate log)."""
    d = compared["broken"][member]
    assert d["weights"] > 10 * W_TOL, (what, d)
    assert d["history"] > 100 * H_TOL, (what, d)
    if what == "a different schedule":
        assert d["lr_rel"] > 1e-3, d


@pytest.mark.parametrize("value, ok", [("vmap", True), (True, True), (False, True), ("fast", False), (1, False)])
def test_fast_path_takes_vmap_as_a_value(value, ok):
    if ok:
        rules.check_value("fast_path", value, False)
    else:
        with pytest.raises(rules.ParameterError, match="'vmap'"):
            rules.check_value("fast_path", value, False)


@pytest.mark.parametrize("params, message", [
    ({"fast_path": "vmap", "backend": "tensorflow", "jobs": 1}, "'vmap' but backend='tensorflow'"),
    ({"fast_path": "vmap", "backend": "torch", "jobs": 1}, "JAX backend only"),
    ({"fast_path": "vmap", "backend": "jax", "jobs": 4}, "'jobs'=4 is ignored with fast_path='vmap'"),
])
def test_vmap_combinations_are_refused_with_the_fix(params, message):
    with pytest.raises(rules.ParameterError, match=message) as err:
        combinations.check_combinations(params)
    assert "Fix:" in str(err.value)
    combinations.check_combinations({**params, "backend": "jax", "jobs": 1})  # the fixed setting passes


def test_fit_and_fit_seeds_refuse_vmap_where_it_cannot_run(fmnist, tmp_path):
    pytest.importorskip("keras")
    from fashionlib import data, keras_runs, train_keras, train_vmap

    d = data.prepare_data(fmnist, train_size=100)
    cfg = train_keras.FitConfig(epochs=1, batch_size=32, fast_path="vmap")
    with pytest.raises(ValueError, match="run_many / run_seeds"):
        train_keras.fit(d, cfg, backup_dir=tmp_path / "never")
    with pytest.raises(ValueError, match="JAX backend only"):  # this process runs TensorFlow
        train_vmap.fit_seeds(d, [cfg])
    with pytest.raises(ValueError, match="some configurations have fast_path='vmap' and some not"):
        keras_runs.run_many(d, [cfg, train_keras.FitConfig(epochs=1, batch_size=32, seed=1)], progress=False)
    assert not (tmp_path / "never").exists()


def test_group_key_keeps_what_members_must_share():
    pytest.importorskip("keras")
    import dataclasses

    from fashionlib import train_keras, train_vmap

    cfg = train_keras.FitConfig(epochs=2, fast_path="vmap")
    same = [dataclasses.replace(cfg, seed=3), dataclasses.replace(cfg, schedule="cosine", lr=2e-3, lr_end=1e-4)]
    assert {train_vmap.group_key(c) for c in [cfg, *same]} == {train_vmap.group_key(cfg)}
    for other in (dataclasses.replace(cfg, batch_size=64), dataclasses.replace(cfg, model="cnn"),
                  dataclasses.replace(cfg, optimizer="sgd"), dataclasses.replace(cfg, augment=True)):
        assert train_vmap.group_key(other) != train_vmap.group_key(cfg)
