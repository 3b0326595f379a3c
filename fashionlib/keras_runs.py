"""Study A's runs: train many configurations (:func:`run_many`, :func:`run_seeds`) and turn them into record runs.

Each run is ``train_keras.fit`` resuming from its own backup folder (:func:`backup_dir_for`), then
evaluated and saved; ``jobs > 1`` trains the runs in a pool of spawned worker processes (each holding
the prepared data once), and ``fast_path="vmap"`` trains the seeds of a setting together
(``train_vmap.fit_seeds``). :func:`record_runs` turns the results into results-record runs.
"""

from __future__ import annotations

import dataclasses
import json
import os
import tempfile
import time
from pathlib import Path

import keras
import numpy as np

from . import data as fdata
from .files import results_dir
from .keras_models import build_model
from .rules import check_params
from .train_keras import FitConfig, FitResult, evaluate, fit, inference_copy, save_model_atomic


def backup_dir_for(**tag) -> Path:
    """A resume folder in the user cache, unique to ``tag`` (notebook, profile, parameters, seed ...)
    and to the results folder the run writes to.

    Re-running an interrupted notebook with the same parameters into the same results folder finds the
    same folder and resumes; two runs into separate results folders at once never share one (two
    processes must not lock the same backup file).
    """
    import hashlib

    tag = {**tag, "results_dir": str(results_dir().resolve())}
    key = hashlib.sha256(json.dumps(tag, sort_keys=True, default=str).encode()).hexdigest()[:16]
    return fdata.cache_dir() / "keras-backup" / f"{tag.get('notebook', 'run')}-{key}"


def _train_and_evaluate(data: dict, cfg: FitConfig, save_path, tag: dict, test_eval: bool = True) -> dict:
    """One run of :func:`run_many`: fit (resuming from its backup folder), evaluate, save if asked."""
    bdir = backup_dir_for(**tag)
    t0 = time.perf_counter()
    res = fit(data, cfg, backup_dir=bdir)
    import shutil

    shutil.rmtree(bdir, ignore_errors=True)
    return _evaluate_run(data, cfg, res, save_path, test_eval, t0)


def _evaluate_run(data: dict, cfg: FitConfig, res: FitResult, save_path, test_eval: bool, t0: float) -> dict:
    """The dict of :func:`run_many` for one trained run: evaluate, save if asked (every path)."""
    flip = cfg.recipe == "modern"  # the modern recipe predicts with test-time flip, on validation too
    val_mets = evaluate(res.model, data["x_val"], data["y_val"], flip=True)[0] if flip and len(data["y_val"]) else None
    mets, proba = evaluate(res.model, data["x_test"], data["y_test"], flip=flip) if test_eval else ({}, None)
    path = None
    if save_path is not None:
        path = save_model_atomic(inference_copy(res.model, cfg.model, cfg.augment), save_path)
    hist = res.history
    return {"seed": cfg.seed, "config": cfg, "setting": cfg.as_dict(), "metrics": mets, "proba": proba,
            "val_metrics": val_mets, "history": hist, "lr_log": res.lr_log, "seconds": time.perf_counter() - t0,
            "seconds_per_epoch": float(hist["seconds"].mean()) if len(hist) else None,
            "model": res.model, "model_path": path}


# Worker processes of run_many(jobs > 1): each holds the prepared data once, loaded from a .npz file.
_WORKER_DATA: dict = {}


def worker_environment(backend: str) -> dict:
    """Environment variables the worker processes of :func:`run_many` need on ``backend``.

    JAX takes 75% of the GPU's memory when it starts unless ``XLA_PYTHON_CLIENT_PREALLOCATE`` is false,
    so a second worker on the same GPU would run out of memory; with it false each takes what it uses.
    """
    return {"XLA_PYTHON_CLIENT_PREALLOCATE": "false"} if backend == "jax" else {}


def _init_worker(backend: str, data_file: str) -> None:
    from .backend import use_backend

    use_backend(backend)
    with np.load(data_file) as z:
        _WORKER_DATA.update({k: z[k] for k in z.files})


def _worker_run(cfg: FitConfig, save_path, tag: dict, test_eval: bool = True) -> dict:
    run = _train_and_evaluate(_WORKER_DATA, cfg, save_path, tag, test_eval)
    run["weights"] = run.pop("model").get_weights()  # a Keras model does not pickle across processes
    return run


def run_many(data: dict, configs: list[FitConfig], save_paths: list | None = None, jobs: int = 1,
             notebook: str = "adhoc", profile: str = "adhoc", progress: bool = True,
             test_eval: bool = True) -> list[dict]:
    """Train and test-evaluate one model per configuration; ``save_paths`` (one path or None per
    configuration) saves the trained models. Returns one dict per configuration, in order.

    Each dict: seed, config, setting (the configuration as a dict), metrics, proba, history, lr_log,
    seconds, seconds_per_epoch, model, model_path. Runs are independent and each is seeded, so
    ``jobs > 1`` trains them side by side in that many worker processes (same backend; a fresh
    process each, so also the same numbers as ``jobs=1`` on a CPU) -- worth it on a many-core
    machine and on one GPU, where the processes fill each other's idle time; not on a machine with few cores. Each
    run resumes from its own backup folder (:func:`backup_dir_for`) if an earlier attempt was
    interrupted.

    Configurations with ``fast_path="vmap"`` (JAX backend, ``jobs=1``) are grouped by setting and the runs
    of each group trained together in one program (``train_vmap.fit_seeds``): per run the numbers of the
    fast path, up to rounding; ``seconds`` and the history's ``seconds`` are then the group's wall-clock
    times (all its runs at once), and there is no resume folder.

    ``test_eval=False`` leaves the test set unread (metrics {}, proba None): choose on validation
    first, then :func:`evaluate` the chosen models. A ``recipe="modern"`` run is evaluated with
    test-time flip and also on the validation split (``val_metrics``, the same evaluation as its test
    metrics; None for the paper recipe).
    """
    check_params({"jobs": jobs}, "run_many: ")
    if not isinstance(test_eval, bool):
        raise ValueError(f"run_many: test_eval must be True or False, got {test_eval!r}.")
    configs = list(configs)
    bad = [c for c in configs if not isinstance(c, FitConfig)]
    if bad:
        raise TypeError(f"run_many takes train_keras.FitConfig objects, got {type(bad[0]).__name__}. "
                        "Fix: dataclasses.replace(FitConfig.from_params(params), ...) per run.")
    save_paths = list(save_paths) if save_paths is not None else [None] * len(configs)
    if len(save_paths) != len(configs):
        raise ValueError(f"run_many: {len(save_paths)} save_paths for {len(configs)} configurations; "
                         "give one path (or None) per configuration.")
    tags = [dict(notebook=notebook, profile=profile, n_train=len(data["x_train"]), **c.as_dict()) for c in configs]

    def report(run):
        if progress:
            cfg = run["config"]
            extra = ", ".join(f"{k}={v}" for k, v in run["setting"].items() if k not in ("model", "seed", "epochs"))
            shown = ([f"test accuracy {run['metrics']['accuracy']:.2f}% loss {run['metrics']['loss']:.4f}"]
                     if run["metrics"] else [])
            if run.get("val_metrics"):
                shown.append(f"validation accuracy {run['val_metrics']['accuracy']:.2f}%")
            print(f"{cfg.model} seed {cfg.seed} ({extra}): {', '.join(shown) or 'trained'} "
                  f"({run['seconds']:.0f} s, {len(run['history'])} epochs)", flush=True)

    if any(c.fast_path == "vmap" for c in configs):
        return _run_vectorised(data, configs, save_paths, jobs, test_eval, report)
    if jobs == 1 or len(configs) <= 1:
        runs = []
        for cfg, path, tag in zip(configs, save_paths, tags):
            runs.append(_train_and_evaluate(data, cfg, path, tag, test_eval))
            report(runs[-1])
        return runs

    import concurrent.futures as cf
    import multiprocessing as mp

    backend = keras.backend.backend()
    for name, value in worker_environment(backend).items():  # spawned workers inherit it; an explicit setting wins
        os.environ.setdefault(name, value)
    with tempfile.TemporaryDirectory(prefix="fashionlib-data-") as tmp:
        data_file = str(Path(tmp) / "data.npz")
        np.savez(data_file, **{k: np.asarray(v) for k, v in data.items()})
        runs = [None] * len(configs)
        with cf.ProcessPoolExecutor(max_workers=min(jobs, len(configs)), mp_context=mp.get_context("spawn"),
                                    initializer=_init_worker,
                                    initargs=(backend, data_file)) as pool:
            futures = {pool.submit(_worker_run, cfg, path, tag, test_eval): i
                       for i, (cfg, path, tag) in enumerate(zip(configs, save_paths, tags))}
            try:
                for fut in cf.as_completed(futures):
                    run = fut.result()
                    report(run)
                    runs[futures[fut]] = run
            except BaseException:
                pool.shutdown(wait=True, cancel_futures=True)
                raise
    for run in runs:  # rebuild each trained model here from its weights
        cfg = run["config"]
        net = build_model(cfg.model, augment=cfg.augment)
        net.set_weights(run.pop("weights"))
        run["model"] = net
    return runs


def _run_vectorised(data, configs, save_paths, jobs, test_eval, report) -> list[dict]:
    """run_many's ``fast_path="vmap"``: the configurations grouped by setting (``train_vmap.group_key``:
    all but the seed and the learning-rate schedule), each group trained together
    (``train_vmap.fit_seeds``), then every run evaluated and saved as on the other paths; in order."""
    from . import train_vmap

    if not all(c.fast_path == "vmap" for c in configs):
        raise ValueError("run_many: some configurations have fast_path='vmap' and some not; one path per call. "
                         "Fix: the same fast_path for all.")
    if jobs != 1:
        raise ValueError(f"run_many: jobs={jobs} is ignored with fast_path='vmap' (each setting's runs train together "
                         "in this process). Fix: jobs=1.")
    groups: dict = {}
    for i, c in enumerate(configs):
        groups.setdefault(train_vmap.group_key(c), []).append(i)
    runs = [None] * len(configs)
    for members in groups.values():
        t0 = time.perf_counter()
        fitted = train_vmap.fit_seeds(data, [configs[i] for i in members])
        for i, res in zip(members, fitted):
            runs[i] = _evaluate_run(data, configs[i], res, save_paths[i], test_eval, t0)
            report(runs[i])
    return runs


def run_seeds(data: dict, cfg: FitConfig, seeds, save_dir=None, notebook: str = "adhoc",
              profile: str = "adhoc", progress: bool = True, jobs: int = 1) -> list[dict]:
    """Train ``cfg`` once per seed (:func:`run_many`); ``save_dir`` saves ``<model>_seed<seed>.keras``."""
    configs = [dataclasses.replace(cfg, seed=s) for s in seeds]
    paths = [Path(save_dir) / f"{c.model}_seed{c.seed}.keras" for c in configs] if save_dir is not None else None
    return run_many(data, configs, paths, jobs=jobs, notebook=notebook, profile=profile, progress=progress)


def record_runs(runs: list[dict]) -> list[dict]:
    """The runs of :func:`run_many` as results-record runs (see ``results.write_record``).

    Setting: the run's :class:`FitConfig` (seed aside); metrics: the test metrics (accuracy in
    percent), seconds per epoch, epochs run, and the last epoch's validation and training accuracy in
    percent (training accuracy measured with dropout and augmentation active), and for a modern-recipe
    run ``val_accuracy_eval``: the final model's validation accuracy, evaluated as its test set is (EMA
    weights, test-time flip; the per-epoch ``val_accuracy`` is of the raw weights); the saved model's
    file name; the per-epoch history.
    """
    out = []
    for r in runs:
        h = r["history"]
        last = {"val_accuracy": 100 * float(h["val_accuracy"].iloc[-1]) if len(h) and "val_accuracy" in h else None,
                "train_accuracy": 100 * float(h["accuracy"].iloc[-1]) if len(h) else None}
        out.append({"setting": {k: v for k, v in r["setting"].items() if k != "seed"}, "seed": r["seed"],
                    "metrics": {**r["metrics"], "seconds_per_epoch": r["seconds_per_epoch"],
                                "epochs_run": len(h), **last,
                                **({"val_accuracy_eval": r["val_metrics"]["accuracy"]} if r.get("val_metrics") else {})},
                    "model_file": r.get("model_path"), "history": h})
    return out


def group_runs(runs: list[dict], fields, keys) -> dict[tuple, list[dict]]:
    """The runs of :func:`run_many` by setting: for each key of ``keys`` (a tuple of the values of
    ``fields``, the setting's names, in order), the runs whose setting has those values, in run order (one
    per seed); a key no run has maps to an empty list."""
    return {k: [r for r in runs if tuple(r["setting"][f] for f in fields) == tuple(k)] for k in keys}
