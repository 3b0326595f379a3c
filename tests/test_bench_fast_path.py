"""Speed options of study A's ``train_keras.fit``: the same numbers as the default path for a seed.

``steps_per_execution`` (several steps per compiled call) and ``device_data`` (arrays held on the
device, one gather per epoch) change how the work is dispatched, not what is computed: the same batches
in the same order, the same dropout masks (reset per epoch by ``EpochSeeder``), the same updates. The
tests therefore ask for identical weights, histories and learning-rate logs (no tolerance).
"""

import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

keras = pytest.importorskip("keras")

from fashionlib import data, schedules, train_keras  # noqa: E402
from fashionlib.train_keras import FitConfig  # noqa: E402
from tests.conftest import REPO, weights_digest  # noqa: E402

N_TRAIN = 200  # 7 steps of 32: a partial last batch, and 7 is not a multiple of 3


@pytest.fixture(scope="module")
def tiny(fmnist):
    return data.prepare_data(fmnist, train_size=N_TRAIN)



def _fit(tiny, tmp_path, **kw):
    res = train_keras.fit(tiny, FitConfig(epochs=2, batch_size=32, seed=3), backup_dir=tmp_path / str(sorted(kw.items())),
                          **kw)
    return res, weights_digest(res.model)


@pytest.mark.parametrize("spe", [3, "epoch"])
def test_steps_per_execution_gives_the_same_run(tiny, tmp_path, spe):
    ref, ref_digest = _fit(tiny, tmp_path)
    fast, fast_digest = _fit(tiny, tmp_path, steps_per_execution=spe)
    assert fast_digest == ref_digest
    cols = ["epoch", "loss", "accuracy", "val_loss", "val_accuracy"]
    assert fast.history[cols].equals(ref.history[cols])
    assert fast.lr_log.equals(ref.lr_log)
    assert fast.lr_log["step"].tolist() == list(range(2 * 7))


def test_eval_batch_size_changes_no_training_number(tiny, tmp_path):
    ref, ref_digest = _fit(tiny, tmp_path)
    other, other_digest = _fit(tiny, tmp_path, eval_batch_size=64)
    assert other_digest == ref_digest
    assert np.allclose(other.history["val_accuracy"], ref.history["val_accuracy"])


def test_logger_counts_every_step_with_steps_per_execution():
    x, y = np.zeros((20, 3), "float32"), np.zeros((20,), "int32")  # 5 steps of 4 per epoch
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    sched = schedules.make_schedule("paper", lr0=0.1, steps_per_epoch=5, epochs=2, lr_end=1e-3)
    model.compile(optimizer=keras.optimizers.Adam(sched), loss="sparse_categorical_crossentropy",
                  steps_per_execution=2)
    log = schedules.LearningRateLogger()
    model.fit(x, y, batch_size=4, epochs=2, verbose=0, callbacks=[log])
    assert log.steps == list(range(10))
    assert log.rates == pytest.approx([schedules.schedule_value(sched, t) for t in range(10)], rel=1e-6)


@pytest.mark.parametrize("kwargs, match", [
    ({"steps_per_execution": 0}, "steps_per_execution"), ({"steps_per_execution": "all"}, "steps_per_execution"),
    ({"device_data": True}, "device_data"), ({"device_data": "yes"}, "device_data"),
    ({"eval_batch_size": 0}, "eval_batch_size"), ({"dtype_policy": "float16"}, "dtype_policy")])
def test_bad_speed_option_is_a_clear_error_before_any_work(tiny, tmp_path, kwargs, match):
    with pytest.raises(ValueError, match=match):
        train_keras.fit(tiny, FitConfig(epochs=1), backup_dir=tmp_path / "never", **kwargs)
    assert not (tmp_path / "never").exists()


def test_fast_path_on_the_tensorflow_backend_is_refused_before_any_work(tiny, tmp_path):
    assert keras.backend.backend() == "tensorflow"  # the test process's backend (as for device_data above)
    with pytest.raises(ValueError, match=r"'fast_path' is True but backend='tensorflow'.*Fix: -p backend jax"):
        train_keras.fit(tiny, FitConfig(epochs=1, fast_path=True), backup_dir=tmp_path / "never")
    assert not (tmp_path / "never").exists()


@pytest.mark.parametrize("kwargs", [{"steps_per_execution": 4}, {"steps_per_execution": "epoch"}, {"device_data": True}])
def test_fast_path_and_its_options_are_one_way_to_ask(tiny, tmp_path, kwargs):
    with pytest.raises(ValueError, match="either fast_path or those options"):
        train_keras.fit(tiny, FitConfig(epochs=1, fast_path=True), backup_dir=tmp_path / "never", **kwargs)
    assert not (tmp_path / "never").exists()


def test_mixed_bfloat16_is_explicit_and_does_not_leak(tiny, tmp_path):
    res, _ = _fit(tiny, tmp_path, dtype_policy="mixed_bfloat16")
    assert res.model.layers[0].compute_dtype == "bfloat16"
    assert res.model.layers[0].kernel.dtype == "float32"
    assert keras.config.dtype_policy().name == "float32"  # the global policy is restored
    ref, _ = _fit(tiny, tmp_path)
    assert ref.model.layers[0].compute_dtype == "float32"


JAX_SCRIPT = textwrap.dedent("""
    import json, sys
    from fashionlib.backend import use_backend
    use_backend("jax")
    import numpy as np
    from fashionlib import data, train_keras
    d = data.prepare_data(data.load_fashion_mnist(), train_size=200)
    out = {}
    cfg = train_keras.FitConfig(epochs=2, batch_size=32, seed=3)
    for name, c, kw in (("default", cfg, {}), ("fast", cfg, {"steps_per_execution": "epoch", "device_data": True}),
                        ("fast_path", train_keras.FitConfig(epochs=2, batch_size=32, seed=3, fast_path=True), {})):
        res = train_keras.fit(d, c, **kw)
        assert res.params["device_data"] is (name != "default"), res.params
        out[name] = {"weights": [w.tolist() for w in res.model.get_weights()],
                     "val_accuracy": res.history["val_accuracy"].tolist(), "lr": res.lr_log["learning_rate"].tolist()}
    print("RESULT " + json.dumps(out))
""")


@pytest.mark.slow
def test_gpu_fast_path_equals_default_path_on_jax_cpu(tmp_path):
    """The GPU fast path (JAX, whole epoch per call, data on the device) run on the CPU: identical numbers."""
    pytest.importorskip("jax")
    env = {"PYTHONPATH": str(REPO), "KERAS_BACKEND": "jax", "JAX_PLATFORMS": "cpu", "PATH": "/usr/bin:/bin",
           "HOME": str(tmp_path), "FASHIONLIB_CACHE": str(tmp_path / "cache")}
    proc = subprocess.run([sys.executable, "-c", JAX_SCRIPT], env=env, cwd=tmp_path, capture_output=True,
                          text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads([ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")][-1][7:])
    assert out["fast"] == out["default"]
    assert out["fast_path"] == out["default"]  # FitConfig(fast_path=True) is that same fast path


def _notebook_record(tmp_path, name, *params):
    """Run a1 at the smoke profile (2 epochs) on the JAX backend on the CPU; its one record."""
    env = dict(os.environ, PYTHONPATH=str(REPO), KERAS_BACKEND="jax", JAX_PLATFORMS="cpu",
               FASHIONLIB_CACHE=str(tmp_path / "cache"))
    res = tmp_path / f"res-{name}"
    proc = subprocess.run([sys.executable, "-m", "fashionlib", "run", "a1_improved_cnn", "--profile", "smoke",
                           "-p", "backend", "jax", "-p", "epochs", "2", *params, "--out", str(tmp_path / f"ex-{name}"),
                           "--results-dir", str(res)], env=env, cwd=REPO, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-3000:]
    (record,) = res.glob("smoke/a1_improved_cnn/*.json")
    return json.loads(record.read_text())


@pytest.mark.slow
def test_notebook_fast_path_gives_the_default_paths_record_numbers(tmp_path):
    """``-p fast_path true`` reaches fit through the notebook's parameters and FitConfig, is recorded in the
    record's parameters and each run's setting, and changes no number (JAX on the CPU: identical)."""
    pytest.importorskip("jax")
    default = _notebook_record(tmp_path, "default")
    fast = _notebook_record(tmp_path, "fast", "-p", "fast_path", "true")
    assert default["provenance"]["parameters"]["fast_path"] is False
    assert fast["provenance"]["parameters"]["fast_path"] is True
    assert ["fast_path" in r["setting"] for r in default["runs"]] == [False]  # default: the settings as before
    assert [r["setting"]["fast_path"] for r in fast["runs"]] == [True]

    def numbers(record):  # everything a run measured except wall-clock time
        return [{"seed": r["seed"], "metrics": {k: v for k, v in r["metrics"].items() if k != "seconds_per_epoch"},
                 "history": {k: v for k, v in r["history"].items() if k != "seconds"}} for r in record["runs"]]

    assert numbers(fast) == numbers(default)
    assert len(numbers(fast)[0]["history"]["val_accuracy"]) == 2
