"""Study A's Keras callbacks: exact resume, the per-epoch history on disk, and the diagnostic test accuracy.

:class:`EpochSeeder` makes epoch ``e``'s batch order and dropout masks a function of ``(seed, e)``;
:class:`HistoryBackup` keeps the history and learning-rate log beside ``BackupAndRestore``'s
checkpoint so a resumed run returns the full history; :class:`TestAccuracyMonitor` measures the test
set after each epoch as a diagnostic (never used to choose anything).
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import keras
import numpy as np

from .files import atomic_write_text
from .keras_batches import EpochShuffledBatches, dropout_seed
from .schedules import LearningRateLogger

HISTORY_FILE = "fashionlib_history.json"


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

