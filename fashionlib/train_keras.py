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

The backend is chosen before Keras is imported (``fashionlib.backend.use_backend``).
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import keras
import numpy as np

from . import data as fdata
from .keras_models import build_model
from .choices import DEVICE_DATA_BACKENDS, OPTIMIZERS, RECIPES
from .combinations import fast_path_problem
from .rules import ParameterError, check_params, config_values
from .files import atomic_write_bytes, atomic_write_text
from .schedules import DEFAULT_LR_END, LearningRateLogger, make_schedule

HISTORY_FILE = "fashionlib_history.json"


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
        if self.fast_path is False:  # the default path: the settings of earlier records, unchanged
            d.pop("fast_path")
        if self.recipe == "paper":  # the modern knobs are None here: keep the paper recipe's settings as they were
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


def epoch_order(seed: int, epoch: int, n: int) -> np.ndarray:
    """The order of the ``n`` training images in epoch ``epoch`` of the run seeded ``seed``: a permutation
    drawn from ``(seed, epoch)`` only (every path of study A, single run or vectorised, uses this one)."""
    return np.random.default_rng([int(seed), int(epoch)]).permutation(int(n))


def dropout_seed(seed: int, epoch: int, i: int) -> int:
    """The state ``[s, 0]`` of the ``i``-th random layer (dropout, augmentation) at the start of epoch ``epoch``
    of the run seeded ``seed``: ``s`` drawn from ``(seed, epoch, i)`` only (every path uses this one)."""
    return int(np.random.default_rng([int(seed), int(epoch), int(i)]).integers(1, 2**31 - 1))


class EpochShuffledBatches(keras.utils.PyDataset):
    """Mini-batches whose order in epoch ``e`` is a permutation seeded by ``(seed, e)``.

    (Keras' own ``shuffle=True`` draws from a random stream that restarts with the process, so a
    resumed run would see epoch 0's order again; this keeps the order a function of the epoch.)
    """

    def __init__(self, x, y, batch_size: int, seed: int = 0):
        super().__init__(workers=1, use_multiprocessing=False)
        self.x, self.y, self.batch_size, self.seed = x, y, int(batch_size), int(seed)
        self._epoch_x = getattr(self, "_epoch_x", None)
        self.set_epoch(0)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)
        self.order = epoch_order(self.seed, self.epoch, len(self.x))

    def __len__(self):
        return math.ceil(len(self.x) / self.batch_size)

    def __getitem__(self, i):
        sl = slice(i * self.batch_size, (i + 1) * self.batch_size)
        if self._epoch_x is not None:  # device-resident: a slice of this epoch's gathered copy
            return self._epoch_x[sl], self._epoch_y[sl]
        idx = self.order[sl]
        return self.x[idx], self.y[idx]


class DeviceEpochBatches(EpochShuffledBatches):
    """The same batches as :class:`EpochShuffledBatches`, with the arrays held once on the backend's
    device (JAX/torch): each epoch is one gather on the device (``keras.ops.take``) and every batch a
    slice of it, so no image crosses from the host after the start (the GPU fast path).
    """

    def __init__(self, x, y, batch_size: int, seed: int = 0):
        self._epoch_x = None
        self.x_dev, self.y_dev = keras.ops.convert_to_tensor(x), keras.ops.convert_to_tensor(y)
        super().__init__(x, y, batch_size, seed)

    def set_epoch(self, epoch: int) -> None:
        super().set_epoch(epoch)
        order = keras.ops.convert_to_tensor(self.order.astype("int32"))
        self._epoch_x = keras.ops.take(self.x_dev, order, axis=0)
        self._epoch_y = keras.ops.take(self.y_dev, order, axis=0)


class CropFlipBatches(EpochShuffledBatches):
    """The batches of :class:`EpochShuffledBatches`, each image randomly cropped and flipped (the modern
    recipe's augmentation): padded by ``pad`` pixels of ``fill`` (the background: a black pixel after
    normalisation), cropped back to its size at a random offset, and mirrored left-right with
    probability 1/2. The draws come from ``(seed, epoch, batch)``, so a resumed run sees the same images.
    """

    def __init__(self, x, y, batch_size: int, seed: int = 0, pad: int = 2, fill: float = 0.0):
        self.pad, self.fill = int(pad), float(fill)
        super().__init__(x, y, batch_size, seed)

    def __getitem__(self, i):
        xb, yb = super().__getitem__(i)
        rng = np.random.default_rng([self.seed, self.epoch, i])
        n, h, w = xb.shape[:3]
        p = self.pad
        padded = np.pad(xb, ((0, 0), (p, p), (p, p), (0, 0)), constant_values=self.fill)
        dy, dx = rng.integers(0, 2 * p + 1, size=(2, n))
        rows = dy[:, None] + np.arange(h)[None, :]  # (n, h)
        cols = dx[:, None] + np.arange(w)[None, :]  # (n, w)
        flip = rng.random(n) < 0.5
        cols = np.where(flip[:, None], cols[:, ::-1], cols)
        out = padded[np.arange(n)[:, None, None], rows[:, :, None], cols[:, None, :]]
        return out.astype(np.float32), yb


# --------------------------------------------------------------------------- callbacks ------
def _seed_generators(model):
    for layer in model._flatten_layers(include_self=False, recursive=True):
        yield from getattr(layer, "_seed_generators", [])


class EpochSeeder(keras.callbacks.Callback):
    """At each epoch start: set the batch order and reset every dropout seed from ``(seed, epoch)``.

    Keras does not store the dropout layers' random state in its checkpoints; resetting it from
    ``(seed, epoch)`` makes epoch ``e`` identical whether or not the process was restarted before it.
    """

    def __init__(self, batches: EpochShuffledBatches, seed: int):
        super().__init__()
        self.batches, self.seed = batches, int(seed)

    def on_epoch_begin(self, epoch, logs=None):
        self.batches.set_epoch(epoch)
        for i, sg in enumerate(_seed_generators(self.model)):
            s = dropout_seed(self.seed, epoch, i)
            sg.state.assign(np.array([s, 0], dtype=keras.backend.standardize_dtype(sg.state.dtype)))


class HistoryBackup(keras.callbacks.Callback):
    """Keep the per-epoch history, timings and learning-rate log in ``backup_dir`` (atomic JSON).

    Placed after ``BackupAndRestore``: on a restart it reloads the epochs that the restored weights
    already include, so a resumed run returns the full history.
    """

    def __init__(self, backup_dir, lr_logger: LearningRateLogger, extra_epoch_fn=None):
        super().__init__()
        self.path = Path(backup_dir) / HISTORY_FILE
        self.lr_logger = lr_logger
        self.extra_epoch_fn = extra_epoch_fn
        self.epochs: list[dict] = []
        self._t0 = None
        self.resumed_from_epoch = 0

    def on_train_begin(self, logs=None):
        start = int(getattr(self.model, "_initial_epoch", None) or 0)
        self.resumed_from_epoch = start
        if start and self.path.is_file():
            saved = json.loads(self.path.read_text())
            self.epochs = [e for e in saved["epochs"] if e["epoch"] < start]
            n_steps = sum(1 for s in saved["lr_steps"] if s < start * saved["steps_per_epoch"])
            self.lr_logger.steps[:0] = saved["lr_steps"][:n_steps]
            self.lr_logger.rates[:0] = saved["lr_rates"][:n_steps]
        self.steps_per_epoch = self.params.get("steps") or 0

    def on_epoch_begin(self, epoch, logs=None):
        self._t0 = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        row = {"epoch": epoch, "seconds": time.perf_counter() - self._t0}
        row.update({k: float(v) for k, v in (logs or {}).items()})
        if self.extra_epoch_fn is not None:
            row.update(self.extra_epoch_fn(self.model))
        self.epochs.append(row)
        if self.path.parent.is_dir():
            atomic_write_text(self.path, json.dumps({
                "epochs": self.epochs, "steps_per_epoch": self.steps_per_epoch,
                "lr_steps": self.lr_logger.steps, "lr_rates": self.lr_logger.rates}))


class TestAccuracyMonitor(keras.callbacks.Callback):
    """Evaluate on the test set after each epoch, as a *diagnostic*: never used to choose anything.

    Two uses: the benchmark times the first epoch that reaches the paper's headline test accuracy
    (``target``: stop there); ``FitConfig(diagnostic_test=True)`` keeps the per-epoch test accuracy (a
    fraction, like Keras' ``accuracy``) in the history under ``key`` (``"diagnostic_test_accuracy"``), so
    a reader can see what choosing an epoch on the test set would have reported (the a6 notebook).
    """

    def __init__(self, x_test, y_test, target: float | None = None, batch_size: int = 1024,
                 key: str = "test_accuracy"):
        super().__init__()
        self.x_test, self.y_test, self.target, self.batch_size = x_test, y_test, target, batch_size
        self.key = key
        self.t_start = None
        self.reached_at = None  # (epoch, seconds since train start, accuracy)

    def on_train_begin(self, logs=None):
        self.t_start = time.perf_counter()

    def on_epoch_begin(self, epoch, logs=None):
        self._val_s = 0.0

    def on_test_begin(self, logs=None):  # Keras' per-epoch validation pass
        self._t_val = time.perf_counter()

    def on_test_end(self, logs=None):
        self._val_s += time.perf_counter() - self._t_val

    def evaluate(self, model) -> dict:
        t = time.perf_counter()
        probs = model.predict(self.x_test, batch_size=self.batch_size, verbose=0)
        now = time.perf_counter()
        return {self.key: float((probs.argmax(1) == self.y_test).mean()),
                "elapsed_s": now - self.t_start, "test_eval_s": now - t, "val_s": self._val_s}

    def on_epoch_end(self, epoch, logs=None):
        res = self.evaluate(self.model)
        if logs is not None:
            logs.update(res)
        if self.target is not None and self.reached_at is None and res[self.key] >= self.target:
            self.reached_at = (epoch, res["elapsed_s"], res[self.key])
            self.model.stop_training = True


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


DTYPE_POLICIES = ("float32", "mixed_bfloat16")


def _check_speed_options(steps_per_execution, device_data, eval_batch_size, dtype_policy) -> None:
    """Reject a bad speed option before any work, naming the parameter and the accepted values."""
    spe = steps_per_execution
    if spe != "epoch" and (isinstance(spe, bool) or not isinstance(spe, int) or spe < 1):
        raise ValueError(f"steps_per_execution must be an integer >= 1 or 'epoch', got {spe!r}.")
    if not isinstance(device_data, bool):
        raise ValueError(f"device_data must be True or False, got {device_data!r}.")
    if device_data and keras.backend.backend() not in DEVICE_DATA_BACKENDS:
        raise ValueError(f"device_data=True holds the arrays on a {'/'.join(DEVICE_DATA_BACKENDS)} device; on the "
                         f"{keras.backend.backend()} backend it would change nothing. Use backend 'jax' (or "
                         "'torch'), or device_data=False.")
    if eval_batch_size is not None and (isinstance(eval_batch_size, bool) or not isinstance(eval_batch_size, int)
                                        or eval_batch_size < 1):
        raise ValueError(f"eval_batch_size must be an integer >= 1 or None, got {eval_batch_size!r}.")
    if dtype_policy not in DTYPE_POLICIES:
        raise ValueError(f"unknown dtype_policy {dtype_policy!r}; choose one of {', '.join(map(repr, DTYPE_POLICIES))}.")


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
        raise ValueError("cfg.fast_path='vmap' trains the runs of a setting together: use train_keras.run_many / "
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
    """Save ``model`` as a ``.keras`` file at ``path``, atomically (``results.atomic_write_bytes``)."""
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


# --------------------------------------------------------------------------- notebooks ------
def evaluate(model, x, y, batch_size: int = 1024, flip: bool = False) -> tuple[dict, np.ndarray]:
    """Test-set metrics (accuracy %, log loss, micro/macro AUC) and the predicted probabilities
    (``flip``: test-time flip, see :func:`predict_proba`)."""
    from . import metrics

    proba = predict_proba(model, x, batch_size, flip=flip)
    return metrics.summary(y, proba), proba


def backup_dir_for(**tag) -> Path:
    """A resume folder in the user cache, unique to ``tag`` (notebook, profile, parameters, seed ...)
    and to the results folder the run writes to.

    Re-running an interrupted notebook with the same parameters into the same results folder finds the
    same folder and resumes; two runs into separate results folders at once never share one (two
    processes must not lock the same backup file).
    """
    import hashlib

    from .results import results_dir

    tag = {**tag, "results_dir": str(results_dir().resolve())}
    key = hashlib.sha256(json.dumps(tag, sort_keys=True, default=str).encode()).hexdigest()[:16]
    return fdata.cache_dir() / "keras-backup" / f"{tag.get('notebook', 'run')}-{key}"


def inference_copy(model, name: str, augment: bool = False):
    """An uncompiled copy of ``model`` (same weights, no optimizer state): a small ``.keras`` file."""
    copy = build_model(name, augment=augment)
    copy.set_weights(model.get_weights())
    return copy


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
