"""Study A training, in one readable function: :func:`fit`.

What it does, in order:

1. seeds everything (``keras.utils.set_random_seed``; TensorFlow op determinism on that backend);
2. takes the data prepared by ``data.prepare_data`` (split, subsample, normalisation);
3. builds the model (``keras_models.build_model``) and compiles it with Adam and the learning-rate
   schedule (``schedules.make_schedule``), as :class:`FitConfig` says;
4. trains with callbacks: the per-step learning-rate logger (Fig. 2), ``BackupAndRestore`` (a run
   killed at any moment resumes from its last finished epoch when started again with the same
   ``backup_dir``), and :class:`EpochSeeder`, which makes the batch order and the dropout masks of
   epoch ``e`` a function of ``(seed, e)`` only, so a resumed run repeats exactly the uninterrupted one;
5. returns a :class:`FitResult` (model, history table, learning-rate log, timings).

The batches live in ``keras_batches``, the callbacks in ``keras_callbacks``; ``keras_runs`` trains many
configurations (worker processes, the vectorised path) and turns them into record runs.

The backend is chosen before Keras is imported (``fashionlib.backend.use_backend``).
"""

from __future__ import annotations

import dataclasses
import math
import os
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import keras
import numpy as np

from .files import atomic_write_bytes
from .keras_batches import CropFlipBatches, DeviceEpochBatches, EpochShuffledBatches
from .keras_callbacks import HISTORY_FILE, EpochSeeder, HistoryBackup, TestAccuracyMonitor
from .keras_models import build_model
from .choices import DEVICE_DATA_BACKENDS, OPTIMIZERS
from .combinations import fast_path_problem
from .rules import ParameterError, check_params, config_values
from .schedules import DEFAULT_LR_END, LearningRateLogger, make_schedule


# --------------------------------------------------------------------------- config ---------
@dataclass(frozen=True)
class FitConfig:
    """One study-A training run: what :func:`fit` trains (the model, its recipe and its seed).

    Built from a notebook's validated parameters with :meth:`from_params`; a grid is a list of
    ``dataclasses.replace(config, ...)``. Ranges are checked by ``rules.RULES`` (same names).
    ``lr`` defaults to Adam's usual 1e-3: the paper's literal 0.1 does not train with Adam
    (see ``schedules`` and the a4 notebook).
    """

    model: str = "improved_cnn"
    epochs: int = 50
    batch_size: int = 128
    lr: float = 1e-3
    lr_end: float = DEFAULT_LR_END
    schedule: str = "paper"
    optimizer: str = "adam"
    momentum: float = 0.0                # SGD only
    augment: bool = False
    validation: str = "split"            # "split" (ours) or "test" (Keras-tutorial protocol, diagnostic)
    diagnostic_test: bool = False        # also record the per-epoch test accuracy (a diagnostic)
    fast_path: bool | str = False        # fit's GPU fast path (see fit): the same run, dispatched faster;
                                         # "vmap": the seeds trained together (train_vmap, run_many);
                                         # in a setting only when not False (the default path's settings unchanged)
    seed: int = 0
    # recipe="modern" (the a7 notebook): the same network with crop/flip augmentation, label smoothing,
    # AdamW on a warm-up + cosine schedule peaking at ``lr``, and EMA weights. Its knobs stay None for
    # the paper recipe (and are left out of as_dict, so the paper recipe's records are unchanged);
    # None with recipe="modern" takes MODERN_DEFAULTS.
    recipe: str = "paper"
    label_smoothing: float | None = None
    weight_decay: float | None = None   # AdamW's decoupled weight decay
    warmup_epochs: int | None = None    # linear warm-up epochs before the cosine decay
    ema_momentum: float | None = None   # momentum of the weights' moving average

    def __post_init__(self):
        if self.recipe == "modern":
            for name, value in MODERN_DEFAULTS.items():
                if getattr(self, name) is None:
                    object.__setattr__(self, name, value)
        check_params(self.as_dict(), "FitConfig: ")
        _check_recipe(self)

    def as_dict(self) -> dict:
        d = dataclasses.asdict(self)
        if self.fast_path is False:  # the default path: fast_path is part of a setting only when set
            d.pop("fast_path")
        if self.recipe == "paper":  # the modern knobs are None here: the paper recipe's setting leaves them out
            for name in (*MODERN_DEFAULTS, "recipe"):
                d.pop(name)
        elif self.recipe == "modern":  # what the modern recipe replaces is not part of its setting
            for name in MODERN_REPLACES:
                d.pop(name)
        return d

    @classmethod
    def from_params(cls, params: dict, **changes) -> "FitConfig":
        """The configuration named by ``params`` (a notebook's parameters; other names are ignored)."""
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{**config_values(params, names, "FitConfig: "), **changes})


# The modern recipe's knobs and the values FitConfig gives them where None.
MODERN_DEFAULTS = {"label_smoothing": 0.1, "weight_decay": 0.05, "warmup_epochs": 1, "ema_momentum": 0.99}
# FitConfig fields the modern recipe replaces (its own augmentation, optimizer and schedule), at their defaults.
MODERN_REPLACES = {"schedule": "paper", "lr_end": DEFAULT_LR_END, "optimizer": "adam", "momentum": 0.0,
                   "augment": False}


def _check_recipe(cfg: "FitConfig") -> None:
    """Refuse a knob the chosen recipe would ignore, naming it and the fix (ranges: ``rules.RULES``)."""
    if cfg.recipe == "paper":
        given = sorted(n for n in MODERN_DEFAULTS if getattr(cfg, n) is not None)
        if given:
            raise ParameterError(f"FitConfig: {', '.join(given)} belong(s) to the modern recipe and would be ignored "
                                 "with recipe='paper'. Fix: recipe='modern', or drop them.")
        return
    clash = {n: getattr(cfg, n) for n, default in MODERN_REPLACES.items() if getattr(cfg, n) != default}
    if clash:
        raise ParameterError("FitConfig: recipe='modern' sets its own augmentation, optimizer and schedule, so "
                             f"{', '.join(f'{k}={v!r}' for k, v in sorted(clash.items()))} would be ignored. Fix: "
                             "drop them (the modern knobs: label_smoothing, weight_decay, warmup_epochs, ema_momentum).")
    if cfg.warmup_epochs >= cfg.epochs:
        raise ParameterError(f"FitConfig: warmup_epochs={cfg.warmup_epochs} leaves no epoch for the cosine decay of "
                             f"{cfg.epochs} epoch(s). Fix: warmup_epochs < epochs (0 = no warm-up).")


# --------------------------------------------------------------------------- fit ------------
@dataclass
class FitResult:
    model: object
    history: "pandas.DataFrame"  # noqa: F821 -- one row per epoch
    lr_log: "pandas.DataFrame"  # noqa: F821 -- step, learning_rate
    params: dict
    seconds: float
    callbacks: list = field(default_factory=list)
    resumed_from_epoch: int = 0  # epochs restored from ``backup_dir`` (0: trained from the start)


def set_determinism(seed: int) -> None:
    """Seed Python, NumPy and the backend; TensorFlow: deterministic ops as well."""
    keras.utils.set_random_seed(int(seed))
    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        tf.config.experimental.enable_op_determinism()
    elif backend == "torch":
        import torch

        torch.use_deterministic_algorithms(True, warn_only=True)


def make_optimizer(name: str, learning_rate, momentum: float = 0.0):
    """Adam (the paper's), RMSprop or SGD (``momentum`` applies to SGD only)."""
    if name not in OPTIMIZERS:
        raise ValueError(f"unknown optimizer {name!r} (parameter 'optimizer'); choose one of "
                         f"{', '.join(map(repr, OPTIMIZERS))}.")
    if name == "adam":
        return keras.optimizers.Adam(learning_rate=learning_rate)
    if name == "rmsprop":
        return keras.optimizers.RMSprop(learning_rate=learning_rate)
    return keras.optimizers.SGD(learning_rate=learning_rate, momentum=momentum)


def compile_modern(model, cfg: FitConfig, steps_per_epoch: int, steps_per_execution: int = 1):
    """Compile for the modern recipe: AdamW on a cosine schedule with linear warm-up to ``cfg.lr`` (Keras'
    ``CosineDecay``), an EMA of the weights (``use_ema=True``; Keras' ``fit`` leaves the averaged weights in
    the model at the end), and label-smoothed cross-entropy (one-hot targets)."""
    total = steps_per_epoch * cfg.epochs
    warm = steps_per_epoch * cfg.warmup_epochs
    if warm:
        lr = keras.optimizers.schedules.CosineDecay(cfg.lr / 10, decay_steps=total - warm, warmup_target=cfg.lr,
                                                    warmup_steps=warm)
    else:
        lr = keras.optimizers.schedules.CosineDecay(cfg.lr, decay_steps=total)
    opt = keras.optimizers.AdamW(learning_rate=lr, weight_decay=cfg.weight_decay, use_ema=True,
                                 ema_momentum=cfg.ema_momentum)
    model.compile(optimizer=opt, loss=keras.losses.CategoricalCrossentropy(label_smoothing=cfg.label_smoothing),
                  metrics=["accuracy"], steps_per_execution=steps_per_execution)
    return model


def compile_model(model, cfg: FitConfig, steps_per_epoch: int, steps_per_execution: int = 1):
    lr = make_schedule(cfg.schedule, lr0=cfg.lr, steps_per_epoch=steps_per_epoch, epochs=cfg.epochs,
                       lr_end=cfg.lr_end)
    model.compile(optimizer=make_optimizer(cfg.optimizer, lr, cfg.momentum),
                  loss="sparse_categorical_crossentropy", metrics=["accuracy"],
                  steps_per_execution=steps_per_execution)
    return model


DIAGNOSTIC_TEST_KEY = "diagnostic_test_accuracy"


def _check_speed_options(steps_per_execution, device_data, eval_batch_size, dtype_policy) -> None:
    """Reject a bad speed option before any work, naming the parameter and the accepted values (``rules.RULES``)."""
    check_params({"steps_per_execution": steps_per_execution, "device_data": device_data,
                  "eval_batch_size": eval_batch_size, "dtype_policy": dtype_policy})
    if device_data and keras.backend.backend() not in DEVICE_DATA_BACKENDS:
        raise ValueError(f"device_data=True holds the arrays on a {'/'.join(DEVICE_DATA_BACKENDS)} device; on the "
                         f"{keras.backend.backend()} backend it would change nothing. Use backend 'jax' (or "
                         "'torch'), or device_data=False.")


def fit(data: dict, cfg: FitConfig, *, backup_dir: str | os.PathLike | None = None,
        callbacks: list | None = None, verbose: int = 0, lr_log_every: int = 1,
        steps_per_execution: int | str = 1, device_data: bool = False, eval_batch_size: int | None = None,
        dtype_policy: str = "float32") -> FitResult:
    """Train ``cfg.model`` on ``data`` (from ``data.prepare_data``) and return a :class:`FitResult`.

    ``cfg.validation="split"`` (ours): Keras validates on ``data``'s validation split after each epoch.
    ``"test"`` is the Keras-tutorial protocol, ``model.fit(..., validation_data=(x_test, y_test))``,
    allowed only for data without a validation split (``data.prepare_data(val_size=0)``): the per-epoch
    "validation" numbers are then test-set numbers, so the history names them
    ``diagnostic_test_accuracy`` / ``diagnostic_test_loss`` instead of ``val_*``. They are a diagnostic
    of how a paper may have measured, never a way to choose. ``cfg.diagnostic_test`` adds the same
    per-epoch test accuracy to a ``"split"`` run (:class:`TestAccuracyMonitor`).

    ``backup_dir``: where ``BackupAndRestore`` keeps the last finished epoch; running ``fit`` again
    with the same folder after a crash/kill resumes there (the folder is emptied after success).
    ``None`` uses a temporary folder (no resume across processes).

    Speed options (none changes what is trained; see ``benchmarks/bench_peer_a.py``):

    * ``steps_per_execution``: training steps per compiled call (an integer, or ``"epoch"`` for a
      whole epoch per call): fewer Python round trips and callback calls; the same updates.
    * ``device_data`` (JAX/torch backends): hold the arrays on the device once and gather each
      epoch there (:class:`DeviceEpochBatches`); the same batches. With ``steps_per_execution="epoch"``
      this is the GPU fast path.
    * ``eval_batch_size``: batch of the per-epoch validation pass (default ``max(batch_size, 1024)``);
      it changes only how many images a validation step holds.
    * ``dtype_policy``: ``"float32"`` (the published runs) or ``"mixed_bfloat16"`` (bf16 compute,
      float32 weights): faster where the hardware has bf16 units, different numbers, never a default.

    ``cfg.fast_path=True`` (a notebook's ``fast_path`` parameter) means ``steps_per_execution="epoch"``
    and ``device_data=True``; it is part of the configuration so that a record's setting says which
    path produced its numbers. It excludes passing those two options here (one way to ask).
    """
    if not isinstance(cfg, FitConfig):
        raise TypeError(f"fit takes a train_keras.FitConfig, got {type(cfg).__name__}. "
                        "Fix: FitConfig.from_params(params) or FitConfig(model=..., epochs=...).")
    if cfg.fast_path == "vmap":
        raise ValueError("cfg.fast_path='vmap' trains the runs of a setting together: use keras_runs.run_many / "
                         "run_seeds (or train_vmap.fit_seeds), not fit. Fix: fast_path=True for one run.")
    if cfg.fast_path:
        if steps_per_execution != 1 or device_data is not False:
            raise ValueError(f"cfg.fast_path=True already means steps_per_execution='epoch' and device_data=True; "
                             f"got also steps_per_execution={steps_per_execution!r}, device_data={device_data!r}. "
                             "Fix: pass either fast_path or those options, not both.")
        problem = fast_path_problem(keras.backend.backend())
        if problem:
            raise ValueError(problem)
        steps_per_execution, device_data = "epoch", True
    if cfg.recipe == "modern" and device_data is True:
        raise ValueError("device_data=True (or fast_path=True) is not supported with recipe='modern' (its crop/flip "
                         "batches are drawn on the host). Fix: device_data=False / fast_path=False.")
    _check_speed_options(steps_per_execution, device_data, eval_batch_size, dtype_policy)
    has_val = len(data["x_val"]) > 0
    if cfg.validation == "test" and has_val:
        raise ValueError("validation='test' (the test set as validation_data) needs data without a validation "
                         f"split, but this data has {len(data['x_val'])} validation images; prepare it with "
                         "data.prepare_data(..., val_size=0), or use validation='split'.")
    if cfg.validation == "split" and not has_val:
        raise ValueError("validation='split' needs a validation split, but this data has none (val_size=0); "
                         "prepare it with val_size > 0, or pass validation='test' for the Keras-tutorial protocol.")
    if cfg.validation == "test" and cfg.diagnostic_test:
        raise ValueError("diagnostic_test=True is redundant with validation='test' (the per-epoch test accuracy "
                         "is already recorded as diagnostic_test_accuracy); pass diagnostic_test=False.")
    t0 = time.perf_counter()
    set_determinism(cfg.seed)
    prev_policy = keras.config.dtype_policy()
    keras.config.set_dtype_policy(dtype_policy)
    try:
        net = build_model(cfg.model, augment=cfg.augment)
    finally:
        keras.config.set_dtype_policy(prev_policy)
    steps = math.ceil(len(data["x_train"]) / cfg.batch_size)
    spe = steps if steps_per_execution == "epoch" else steps_per_execution
    y_train, y_val, y_test = data["y_train"], data["y_val"], data["y_test"]
    if cfg.recipe == "modern":
        compile_modern(net, cfg, steps, steps_per_execution=spe)
        n_classes = int(net.output_shape[-1])
        y_train, y_val, y_test = (keras.utils.to_categorical(y, n_classes) for y in (y_train, y_val, y_test))
        # the background: what a black pixel (0) becomes after the training part's normalisation
        batches = CropFlipBatches(data["x_train"], y_train, cfg.batch_size, seed=cfg.seed,
                                  fill=float(-data["mean"] / data["std"]))
    else:
        compile_model(net, cfg, steps, steps_per_execution=spe)
        batch_cls = DeviceEpochBatches if device_data else EpochShuffledBatches
        batches = batch_cls(data["x_train"], y_train, cfg.batch_size, seed=cfg.seed)
    tmp = None
    if backup_dir is None:
        tmp = tempfile.TemporaryDirectory(prefix="fashionlib-backup-")
        backup_dir = tmp.name
    Path(backup_dir).mkdir(parents=True, exist_ok=True)
    lr_logger = LearningRateLogger(every=lr_log_every)
    history_cb = HistoryBackup(backup_dir, lr_logger)
    diagnostic = ([TestAccuracyMonitor(data["x_test"], data["y_test"], key=DIAGNOSTIC_TEST_KEY)]
                  if cfg.diagnostic_test else [])
    cbs = [EpochSeeder(batches, cfg.seed),
           keras.callbacks.BackupAndRestore(str(backup_dir), double_checkpoint=True),
           lr_logger, *diagnostic, *(callbacks or []), history_cb]
    val_data = (data["x_val"], y_val) if cfg.validation == "split" else (data["x_test"], y_test)
    try:
        # shuffle=False: the batches are already permuted per epoch; Keras' own shuffle of a PyDataset
        # reorders whole batches with Python's `random`, which a restarted process does not replay.
        # Validation in batches of 1,024 whatever the training batch: the same numbers, far fewer steps.
        net.fit(batches, validation_data=val_data, validation_batch_size=eval_batch_size or max(cfg.batch_size, 1024),
                epochs=cfg.epochs, shuffle=False, callbacks=cbs, verbose=verbose)
        (Path(backup_dir) / HISTORY_FILE).unlink(missing_ok=True)  # finished: nothing to resume
    finally:
        if tmp is not None:
            tmp.cleanup()
    import pandas as pd

    params = {**cfg.as_dict(), "train_images": len(data["x_train"]), "backend": keras.backend.backend(),
              "steps_per_execution": steps_per_execution, "device_data": device_data,
              "eval_batch_size": eval_batch_size, "dtype_policy": dtype_policy}
    history = pd.DataFrame(history_cb.epochs)
    if cfg.validation == "test":  # Keras calls them val_*, but they were measured on the test set
        history = history.rename(columns={"val_accuracy": DIAGNOSTIC_TEST_KEY, "val_loss": "diagnostic_test_loss"})
    return FitResult(net, history, lr_logger.as_frame(), params, time.perf_counter() - t0, cbs,
                     history_cb.resumed_from_epoch)


def predict_proba(model, x, batch_size: int = 1024, flip: bool = False) -> np.ndarray:
    """Class probabilities as float64, renormalised to sum to 1 (softmax is computed in float32).

    ``flip=True``: test-time flip, the mean of the probabilities of each image and its left-right mirror.
    """
    if not isinstance(flip, bool):
        raise ValueError(f"flip must be True or False, got {flip!r}.")
    p = np.asarray(model.predict(x, batch_size=batch_size, verbose=0), dtype=np.float64)
    if flip:
        mirrored = np.ascontiguousarray(x[:, :, ::-1])
        p = (p + np.asarray(model.predict(mirrored, batch_size=batch_size, verbose=0), dtype=np.float64)) / 2
    return p / p.sum(axis=1, keepdims=True)


def save_model_atomic(model, path: str | os.PathLike) -> Path:
    """Save ``model`` as a ``.keras`` file at ``path``, atomically (``files.atomic_write_bytes``)."""
    path = Path(path)
    with tempfile.TemporaryDirectory(prefix="fashionlib-save-") as tmp:
        staged = Path(tmp) / path.name  # Keras writes the archive by name; stage it, then copy atomically
        model.save(staged)
        atomic_write_bytes(path, staged.read_bytes())
    return path


def load_model_safe(path: str | os.PathLike):
    """Load a ``.keras`` model with ``safe_mode=True`` (no arbitrary code); clear error if missing."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"saved model {path} does not exist; run the notebook with the paper "
                                f"profile to create it, or check the path.")
    try:
        return keras.saving.load_model(path, safe_mode=True)
    except (ValueError, OSError) as exc:
        raise ValueError(f"{path} is not a loadable Keras model ({exc}); it is corrupt or for "
                         f"another model. Delete it and re-run the training.") from exc


def evaluate(model, x, y, batch_size: int = 1024, flip: bool = False) -> tuple[dict, np.ndarray]:
    """Test-set metrics (accuracy %, log loss, micro/macro AUC) and the predicted probabilities
    (``flip``: test-time flip, see :func:`predict_proba`)."""
    from . import metrics

    proba = predict_proba(model, x, batch_size, flip=flip)
    return metrics.summary(y, proba), proba


def inference_copy(model, name: str, augment: bool = False):
    """An uncompiled copy of ``model`` (same weights, no optimizer state): a small ``.keras`` file."""
    copy = build_model(name, augment=augment)
    copy.set_weights(model.get_weights())
    return copy

