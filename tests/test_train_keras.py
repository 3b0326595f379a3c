"""Study A training: determinism (same seed, same numbers and weights), resume after SIGKILL, bad inputs."""

import importlib.util
import json
import os
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

keras = pytest.importorskip("keras")

from fashionlib import data, keras_batches, keras_callbacks, keras_runs, train_keras  # noqa: E402
from fashionlib.train_keras import FitConfig  # noqa: E402
from tests.conftest import weights_digest  # noqa: E402

N_TRAIN = 300


@pytest.fixture(scope="module")
def tiny(fmnist):
    return data.prepare_data(fmnist, train_size=N_TRAIN)



def _fit(tiny, seed, tmp_path):
    res = train_keras.fit(tiny, FitConfig(epochs=2, batch_size=32, lr=1e-3, seed=seed), backup_dir=tmp_path / f"b{seed}")
    return res, weights_digest(res.model)


@pytest.mark.slow
def test_same_seed_same_metrics_and_weights_different_seed_differs(tiny, tmp_path):
    a, wa = _fit(tiny, 0, tmp_path)
    b, wb = _fit(tiny, 0, tmp_path / "again")
    c, wc = _fit(tiny, 1, tmp_path)
    assert wa == wb
    assert a.history.drop(columns="seconds").equals(b.history.drop(columns="seconds"))
    pa = train_keras.predict_proba(a.model, tiny["x_val"])
    pb = train_keras.predict_proba(b.model, tiny["x_val"])
    assert np.array_equal(pa, pb)
    assert wa != wc
    assert not a.history["loss"].equals(c.history["loss"])
    assert a.lr_log["learning_rate"].tolist() == b.lr_log["learning_rate"].tolist()
    assert len(a.lr_log) == 2 * int(np.ceil(N_TRAIN / 32))


RESUME_SCRIPT = textwrap.dedent("""
    import hashlib, json, os, sys, time
    from pathlib import Path
    import numpy as np
    from fashionlib.backend import use_backend
    use_backend(sys.argv[1])
    import keras
    from fashionlib import data, train_keras
    backup, out, pause_at = Path(sys.argv[2]), Path(sys.argv[3]), int(sys.argv[4])

    class PauseBeforeEpoch(keras.callbacks.Callback):
        # Signals that epoch `pause_at` is about to start (all earlier epochs saved), then waits to be killed.
        def on_epoch_begin(self, epoch, logs=None):
            if epoch == pause_at:
                (backup / "READY").write_text(str(epoch))
                time.sleep(120)

    d = data.prepare_data(data.load_fashion_mnist(), train_size=%d)
    cbs = [PauseBeforeEpoch()] if pause_at >= 0 else []
    cfg = train_keras.FitConfig(epochs=4, batch_size=32, lr=1e-3, seed=3)
    res = train_keras.fit(d, cfg, backup_dir=backup, callbacks=cbs)
    h = hashlib.sha256()
    for w in res.model.get_weights():
        h.update(np.ascontiguousarray(w).tobytes())
    probs = train_keras.predict_proba(res.model, d["x_val"])
    out.write_text(json.dumps({"weights": h.hexdigest(), "history": res.history.drop(columns="seconds").to_dict("list"),
                               "epochs": res.history.to_dict("records"), "resumed_from_epoch": res.resumed_from_epoch,
                               "val_probs_sum": float(probs.sum()), "lr": res.lr_log["learning_rate"].tolist()}))
""" % N_TRAIN)


def _run(backend, backup, out, pause_at, tmp_path, wait=True):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", KERAS_BACKEND=backend)
    cmd = [sys.executable, "-c", RESUME_SCRIPT, backend, str(backup), str(out), str(pause_at)]
    proc = subprocess.Popen(cmd, env=env, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if wait:
        _, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err[-3000:]
    return proc


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["tensorflow"])
def test_resume_after_sigkill_equals_uninterrupted_run(backend, tmp_path):
    if importlib.util.find_spec(backend) is None:
        pytest.skip(f"{backend} not installed")
    # uninterrupted reference
    _run(backend, tmp_path / "ref_backup", tmp_path / "ref.json", -1, tmp_path)
    # interrupted: SIGKILL while epoch 2 is about to start (epochs 0 and 1 finished and backed up)
    backup = tmp_path / "backup"
    backup.mkdir()
    proc = _run(backend, backup, tmp_path / "killed.json", 2, tmp_path, wait=False)
    deadline = time.time() + 240
    while not (backup / "READY").exists():
        assert proc.poll() is None, proc.stderr.read()[-3000:]
        assert time.time() < deadline, "training never reached epoch 2"
        time.sleep(0.2)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL
    assert not (tmp_path / "killed.json").exists()
    assert any(backup.iterdir())  # the backup survived the kill
    killed = json.loads((backup / keras_callbacks.HISTORY_FILE).read_text())  # what the killed run finished
    assert [e["epoch"] for e in killed["epochs"]] == [0, 1]
    # restart with the same backup folder: resumes at epoch 2 and finishes
    _run(backend, backup, tmp_path / "resumed.json", -1, tmp_path)
    ref = json.loads((tmp_path / "ref.json").read_text())
    resumed = json.loads((tmp_path / "resumed.json").read_text())
    assert resumed["history"]["epoch"] == [0, 1, 2, 3]
    # resume happened: the restarted run began at epoch 2, the one after the last finished epoch, and its
    # epochs 0-1 are the killed run's own rows (their wall-clock seconds too: a re-trained epoch differs)
    assert ref["resumed_from_epoch"] == 0 and resumed["resumed_from_epoch"] == 2
    assert resumed["epochs"][:2] == killed["epochs"]
    assert resumed["weights"] == ref["weights"]
    assert resumed["history"] == ref["history"]
    assert resumed["val_probs_sum"] == ref["val_probs_sum"]
    assert resumed["lr"] == ref["lr"]


def test_unknown_optimizer_is_a_clear_error():
    with pytest.raises(ValueError, match="unknown optimizer 'adagrad'.*'adam'"):
        train_keras.make_optimizer("adagrad", 1e-3)


def test_missing_saved_model_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="nothing.keras"):
        train_keras.load_model_safe(tmp_path / "nothing.keras")


def test_corrupt_saved_model_is_a_clear_error(tmp_path):
    bad = tmp_path / "bad.keras"
    bad.write_bytes(b"not a zip file")
    with pytest.raises(ValueError, match="bad.keras"):
        train_keras.load_model_safe(bad)


def test_saved_model_roundtrip_same_predictions(tiny, tmp_path):
    from fashionlib import keras_models

    m = keras_models.build_model("improved_cnn")
    path = train_keras.save_model_atomic(train_keras.inference_copy(m, "improved_cnn"), tmp_path / "m.keras")
    assert [p.name for p in tmp_path.iterdir()] == ["m.keras"]  # no temporary file left behind
    m2 = train_keras.load_model_safe(path)
    x = tiny["x_val"][:16]
    assert np.array_equal(train_keras.predict_proba(m, x), train_keras.predict_proba(m2, x))


@pytest.mark.slow
def test_runs_in_worker_processes_equal_runs_in_process(tiny, tmp_path, monkeypatch):
    """run_many(jobs=2) trains each setting in a worker process: same numbers, same weights, same order."""
    monkeypatch.setenv("FASHIONLIB_CACHE", str(tmp_path / "cache"))
    configs = [FitConfig(model="cnn", seed=s, epochs=1, batch_size=64, lr=1e-3, lr_end=1e-4) for s in (0, 1, 2)]
    paths = [tmp_path / f"saved_{c.seed}.keras" for c in configs]
    seq = keras_runs.run_many(tiny, configs, paths, jobs=1, progress=False)
    for path in paths:
        path.unlink()
    par = keras_runs.run_many(tiny, configs, paths, jobs=2, progress=False)
    assert [r["seed"] for r in par] == [0, 1, 2]
    for a, b in zip(seq, par):
        assert a["metrics"] == b["metrics"]
        assert np.array_equal(a["proba"], b["proba"])
        assert a["history"].drop(columns="seconds").equals(b["history"].drop(columns="seconds"))
        assert weights_digest(a["model"]) == weights_digest(b["model"])  # rebuilt from the worker's weights
        assert b["model_path"].is_file()
    assert seq[0]["metrics"] != seq[1]["metrics"]  # the seeds do differ


def test_jax_workers_do_not_preallocate_the_gpu(tiny, monkeypatch):
    """Several JAX workers share one GPU: each spawned worker inherits XLA_PYTHON_CLIENT_PREALLOCATE=false
    (an explicit setting wins); other backends are left alone."""
    import concurrent.futures as cf

    class Spawned(Exception):
        pass

    seen = []

    def pool(*args, **kw):  # stands in for the process pool: what a worker would inherit, then stop
        seen.append((os.environ.get("XLA_PYTHON_CLIENT_PREALLOCATE"), kw["initargs"][0]))
        raise Spawned

    monkeypatch.setattr(cf, "ProcessPoolExecutor", pool)
    monkeypatch.setenv("XLA_PYTHON_CLIENT_PREALLOCATE", "x")
    monkeypatch.delenv("XLA_PYTHON_CLIENT_PREALLOCATE")  # absent, and restored as absent afterwards
    configs = [FitConfig(model="cnn", epochs=1, seed=s) for s in (0, 1)]
    monkeypatch.setattr(keras.backend, "backend", lambda: "jax")
    with pytest.raises(Spawned):
        keras_runs.run_many(tiny, configs, jobs=2, progress=False)
    monkeypatch.setenv("XLA_PYTHON_CLIENT_PREALLOCATE", "true")
    with pytest.raises(Spawned):
        keras_runs.run_many(tiny, configs, jobs=2, progress=False)
    assert seen == [("false", "jax"), ("true", "jax")]
    assert keras_runs.worker_environment("jax") == {"XLA_PYTHON_CLIENT_PREALLOCATE": "false"}
    assert keras_runs.worker_environment("tensorflow") == keras_runs.worker_environment("torch") == {}


def test_jobs_must_be_a_positive_integer(tiny):
    with pytest.raises(ValueError, match="jobs"):
        keras_runs.run_many(tiny, [FitConfig(model="cnn", epochs=1)], jobs=0)


def test_config_is_checked_by_the_parameter_rules():
    with pytest.raises(ValueError, match="'batch_size' must be an integer >= 1"):
        FitConfig(batch_size=0)
    with pytest.raises(TypeError, match="lr0"):
        FitConfig(lr0=0.1)  # renamed: the old keyword is refused, never aliased
    cfg = FitConfig.from_params({"model": "cnn", "lr": 0.01, "seeds": [0, 1], "profile": "cpu"})
    assert (cfg.model, cfg.lr, cfg.seed) == ("cnn", 0.01, 0)
    with pytest.raises(ValueError, match="'lr0' was renamed 'lr'"):
        FitConfig.from_params({"lr0": 0.01})


def test_fit_and_run_many_refuse_keyword_dicts(tiny):
    with pytest.raises(TypeError, match="FitConfig"):
        keras_runs.run_many(tiny, [dict(model="cnn", epochs=1)])


def test_run_many_saves_the_model_it_trained(tiny, tmp_path, monkeypatch):
    """The saved file predicts exactly as the trained model (not an untrained or other copy), on the test set
    whose numbers the record holds."""
    monkeypatch.setenv("FASHIONLIB_CACHE", str(tmp_path / "cache"))
    cfg = FitConfig(model="cnn", seed=0, epochs=1, batch_size=64, lr=1e-3, lr_end=1e-4)
    run = keras_runs.run_many(tiny, [cfg], [tmp_path / "m.keras"], progress=False)[0]
    loaded = train_keras.load_model_safe(run["model_path"])
    got = train_keras.predict_proba(loaded, tiny["x_test"])
    assert np.array_equal(got, train_keras.predict_proba(run["model"], tiny["x_test"]))
    assert np.array_equal(got, run["proba"])
    assert train_keras.evaluate(loaded, tiny["x_test"], tiny["y_test"])[0] == run["metrics"]
    assert run["metrics"]["accuracy"] > 30, "trained: far above chance (10%)"


def test_batch_order_changes_every_epoch_and_is_reproducible_per_seed():
    """What the training loop does at each epoch start (EpochSeeder): a new order for every epoch, a
    permutation of the training set, the same for the same seed, another for another seed."""
    from fashionlib import keras_models

    x, y = np.arange(40, dtype=np.float32).reshape(40, 1), np.zeros(40, np.int32)
    model = keras_models.build_model("cnn")

    def orders(seed, epochs=3):
        batches = keras_batches.EpochShuffledBatches(x, y, batch_size=8, seed=seed)
        seeder = keras_callbacks.EpochSeeder(batches, seed)
        seeder.set_model(model)
        seen = []
        for epoch in range(epochs):
            seeder.on_epoch_begin(epoch)
            seen.append(np.concatenate([batches[i][0][:, 0] for i in range(len(batches))]).astype(int).tolist())
        return seen

    a, again, other = orders(0), orders(0), orders(1)
    assert all(sorted(o) == list(range(40)) for o in a)
    assert a[0] != a[1] and a[1] != a[2] and a[0] != a[2]
    assert a == again
    assert a[0] != other[0] and a[1] != other[1]


def test_group_runs_gathers_each_settings_runs_in_run_order():
    runs = [{"setting": {"model": m, "lr_end": e, "seed": s}, "seed": s}
            for s in (0, 1) for m, e in (("a", 0.1), ("a", 0.2), ("b", 0.1))]
    groups = keras_runs.group_runs(runs, ("model", "lr_end"), [("a", 0.1), ("b", 0.1), ("a", 0.2), ("c", 0.1)])
    assert list(groups) == [("a", 0.1), ("b", 0.1), ("a", 0.2), ("c", 0.1)]
    for (m, e), group in groups.items():
        assert [r["seed"] for r in group] == ([0, 1] if m != "c" else [])
        assert all((r["setting"]["model"], r["setting"]["lr_end"]) == (m, e) for r in group)
