"""The paper's "approximate dynamic learning rate" and the plain alternatives, behind one name.

The paper (JICT 2023, Eq. 6/7, Algorithm 1, Fig. 2) says: start at ``lr0 = 0.1``, keep the rate in
``[1e-8, 0.1]``, decay it *exponentially* and update it *at every batch* ("the total number of global
iterations, global_step, was assigned according to the batch size ... dr was calculated for each
batch"); Fig. 2 shows a natural-exponential curve that passes 0.01 early and then flattens out
("after 0.01, the learning rate decayed less until the decay stopped").  The body of Algorithm 1
is missing from the published text, so we have to choose a reading.

Our reading (``schedule="paper"``, :class:`PaperExponentialDecay`)::

    lr(t) = clip(lr0 * decay_rate ** (t / decay_steps), min_lr, max_lr)

with ``t`` the global batch step (0-based, the step about to be taken), ``decay_steps`` the number of
batches per epoch (Eq. 7's "global_step assigned according to the batch size") and ``decay_rate``
chosen so that the rate reaches ``lr_end`` at the last step of training::

    decay_rate = (lr_end / lr0) ** (decay_steps / total_steps)

``lr_end`` defaults to 1e-5 (see below); ``lr_end = min_lr = 1e-8`` is the literal "until the
decay stopped" reading and is available as a parameter.  ``min_lr``/``max_lr`` are the paper's
``[1e-8, 0.1]`` range.

Adam at 0.1: Adam's step is roughly the learning rate per weight whatever the gradient scale, so 0.1
moves every weight of a Glorot-initialised CNN by more than its own size at each step. The study
therefore keeps the schedule's shape, range and Adam, and takes the first rate as a parameter
(``lr`` in the notebooks, ``lr0`` here, the symbol of the formula), 1e-3 by default (Keras' Adam
default); ``notebooks/a4_lr_schedules.md`` measures what the other readings do.

``lr_end = 1e-5`` (two decades below 1e-3) is our choice, not the paper's; the literal reading runs
from 0.1 to the 1e-8 floor (``lr_end=1e-8``).

The alternatives (``choices.SCHEDULES``):

* ``constant``: ``lr0`` throughout;
* ``exponential``: :class:`keras.optimizers.schedules.ExponentialDecay` with the same rate
  as ``paper`` but no clipping (identical unless the clip binds);
* ``inverse_time``: :class:`keras.optimizers.schedules.InverseTimeDecay`, the paper's
  ``lr_t = lr0 / (1 + k t)`` with ``t`` counted in epochs (``decay_steps = steps_per_epoch``) and
  ``k`` chosen so the rate reaches ``lr_end`` at the end;
* ``cosine``: :class:`keras.optimizers.schedules.CosineDecay` from ``lr0`` to ``lr_end`` over training.
"""

from __future__ import annotations

import math

import numpy as np

from .backend import torch_before_tensorflow

torch_before_tensorflow()
import keras  # noqa: E402

from .choices import SCHEDULES
from .rules import RULES

PAPER_LR0 = 0.1
PAPER_MIN_LR = 1e-8
PAPER_MAX_LR = 0.1
DEFAULT_LR_END = 1e-5


class ScheduleError(ValueError):
    """An unknown schedule name or an impossible schedule setting."""


def paper_decay_rate(lr0: float, lr_end: float, steps_per_epoch: int, epochs: int) -> float:
    """The per-epoch factor ``decay_rate`` such that ``lr0 * decay_rate ** epochs == lr_end``."""
    return (lr_end / lr0) ** (1.0 / epochs) if epochs > 0 else 1.0


def paper_lr(step, lr0: float, decay_rate: float, decay_steps: int,
             min_lr: float = PAPER_MIN_LR, max_lr: float = PAPER_MAX_LR) -> float:
    """Closed form of the ``paper`` schedule (plain Python; used by the tests and the notebooks)."""
    return float(min(max(lr0 * decay_rate ** (step / decay_steps), min_lr), max_lr))


@keras.saving.register_keras_serializable(package="fashionlib")
class PaperExponentialDecay(keras.optimizers.schedules.LearningRateSchedule):
    """Per-batch exponential decay clipped to ``[min_lr, max_lr]`` (our reading of Eq. 7 / Algorithm 1).

    ``lr(t) = clip(lr0 * decay_rate ** (t / decay_steps), min_lr, max_lr)``; see the module docstring.
    """

    def __init__(self, initial_learning_rate: float = PAPER_LR0, decay_steps: int = 375,
                 decay_rate: float = 0.8, min_lr: float = PAPER_MIN_LR, max_lr: float = PAPER_MAX_LR,
                 name: str = "PaperExponentialDecay"):
        super().__init__()
        if decay_steps <= 0:
            raise ScheduleError(f"decay_steps must be >= 1, got {decay_steps}.")
        if not 0 < decay_rate <= 1:
            raise ScheduleError(f"decay_rate must be in (0, 1], got {decay_rate}.")
        if not 0 < min_lr <= max_lr:
            raise ScheduleError(f"need 0 < min_lr <= max_lr, got [{min_lr}, {max_lr}].")
        self.initial_learning_rate = float(initial_learning_rate)
        self.decay_steps = int(decay_steps)
        self.decay_rate = float(decay_rate)
        self.min_lr = float(min_lr)
        self.max_lr = float(max_lr)
        self.name = name

    def __call__(self, step):
        ops = keras.ops
        t = ops.cast(step, "float32") / float(self.decay_steps)
        # exp(t * log(rate)) instead of rate ** t: same value, no float32 power of a small base.
        lr = self.initial_learning_rate * ops.exp(t * math.log(self.decay_rate))
        return ops.clip(lr, self.min_lr, self.max_lr)

    def get_config(self):
        return {"initial_learning_rate": self.initial_learning_rate, "decay_steps": self.decay_steps,
                "decay_rate": self.decay_rate, "min_lr": self.min_lr, "max_lr": self.max_lr,
                "name": self.name}


def _holds(rule: str, value) -> bool:
    """Whether ``value`` passes ``rules.RULES[rule]`` (the one definition of the range)."""
    check, _ = RULES[rule]
    return check(value)


def make_schedule(name: str, lr0: float = PAPER_LR0, steps_per_epoch: int = 375, epochs: int = 50,
                  lr_end: float = DEFAULT_LR_END, min_lr: float = PAPER_MIN_LR,
                  max_lr: float | None = None):
    """Build the learning-rate schedule ``name`` (one of ``choices.SCHEDULES``).

    ``lr_end`` is the rate the decaying schedules reach at the last step (``steps_per_epoch * epochs``).
    ``max_lr`` (the clip ceiling of ``paper``) defaults to ``max(lr0, 0.1)`` so a smaller ``lr0``
    is never clipped up. Returns a float for ``constant``, else a ``LearningRateSchedule``.
    """
    if name not in SCHEDULES:
        raise ScheduleError(f"unknown learning-rate schedule {name!r}; choose one of "
                            f"{', '.join(map(repr, SCHEDULES))} (parameter 'schedule').")
    if not _holds("lr", lr0):
        raise ScheduleError(f"lr0 must be a number > 0, got {lr0!r}.")
    if not (_holds("epochs", steps_per_epoch) and _holds("epochs", epochs)):
        raise ScheduleError(f"steps_per_epoch and epochs must be >= 1, got {steps_per_epoch}, {epochs}.")
    if not 0 < lr_end <= lr0:
        raise ScheduleError(f"lr_end must be in (0, lr0={lr0}], got {lr_end}.")
    total = steps_per_epoch * epochs
    sched = keras.optimizers.schedules
    if name == "constant":
        return float(lr0)
    if name == "paper":
        rate = paper_decay_rate(lr0, max(lr_end, min_lr), steps_per_epoch, epochs)
        return PaperExponentialDecay(lr0, steps_per_epoch, rate, min_lr=min_lr,
                                     max_lr=max_lr if max_lr is not None else max(lr0, PAPER_MAX_LR))
    if name == "exponential":
        rate = paper_decay_rate(lr0, lr_end, steps_per_epoch, epochs)
        return sched.ExponentialDecay(lr0, decay_steps=steps_per_epoch, decay_rate=rate)
    if name == "inverse_time":
        k = (lr0 / lr_end - 1.0) / epochs  # lr0 / (1 + k * epochs) == lr_end
        return sched.InverseTimeDecay(lr0, decay_steps=steps_per_epoch, decay_rate=k)
    # cosine
    return sched.CosineDecay(lr0, decay_steps=total, alpha=lr_end / lr0)


def schedule_value(schedule, step: int) -> float:
    """The rate a schedule (or constant float) gives at ``step``, as a Python float."""
    if isinstance(schedule, (int, float)):
        return float(schedule)
    return float(keras.ops.convert_to_numpy(schedule(step)))


def schedule_rates(schedule, steps) -> np.ndarray:
    """The rates a schedule (a ``LearningRateSchedule``, a float or a Keras variable) gives at ``steps``,
    in one vectorised call: the learning-rate log of every path, and the per-step rates the vectorised
    path (``train_vmap``) feeds its optimizer."""
    steps = np.asarray(steps, dtype="int64")
    if isinstance(schedule, keras.optimizers.schedules.LearningRateSchedule):
        try:
            return np.broadcast_to(keras.ops.convert_to_numpy(schedule(steps)), steps.shape).copy()
        except Exception:  # a schedule with step-dependent control flow: one call per step
            return np.array([schedule_value(schedule, int(t)) for t in steps])
    return np.full(steps.shape, float(keras.ops.convert_to_numpy(schedule)))


class LearningRateLogger(keras.callbacks.Callback):
    """Log the learning rate the optimizer uses at every training step (for Fig. 2).

    The step is the optimizer's own ``iterations`` counter, read once when training starts (so a
    resumed run continues its count) and then counted in Python, one per batch; the rates are the
    optimizer's schedule evaluated at those steps, in one vectorised call per epoch. Reading the
    optimizer at every step instead costs two device-to-host copies a step, which stalls JAX's and
    torch's asynchronous dispatch on a GPU. ``self.steps`` and ``self.rates`` are parallel lists.
    """

    def __init__(self, every: int = 1):
        super().__init__()
        self.every = max(1, int(every))
        self.steps: list[int] = []
        self.rates: list[float] = []
        self._next_step = None
        self._epoch_first_step = None
        self._pending: list[int] = []

    def on_train_begin(self, logs=None):
        self._next_step = int(keras.ops.convert_to_numpy(self.model.optimizer.iterations))

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch_first_step = self._next_step

    def on_train_batch_end(self, batch, logs=None):
        # ``batch``: index (in the epoch) of the last step this call ran; with ``steps_per_execution``
        # > 1 Keras calls once per execution, so count every step up to it (the last call of an
        # epoch may run fewer steps than ``steps_per_execution``).
        n_steps = (self.params or {}).get("steps")
        last = min(batch, n_steps - 1) if n_steps else batch
        end = self._epoch_first_step + last + 1
        self._pending.extend(t for t in range(self._next_step, end) if t % self.every == 0)
        self._next_step = max(self._next_step, end)

    def on_epoch_end(self, epoch, logs=None):
        self.flush()

    def on_train_end(self, logs=None):
        self.flush()

    def flush(self) -> None:
        """Evaluate the rates of the steps logged since the last flush."""
        if not self._pending:
            return
        # Keras 3 keeps the schedule (or the constant rate's variable) in ``_learning_rate``;
        # ``optimizer.learning_rate`` would evaluate it at the current iteration only.
        steps = np.asarray(self._pending, dtype="int64")
        rates = schedule_rates(self.model.optimizer._learning_rate, steps)
        self.steps.extend(int(t) for t in steps)
        self.rates.extend(float(r) for r in rates)
        self._pending = []

    def as_frame(self):
        import pandas as pd

        return pd.DataFrame({"step": self.steps, "learning_rate": self.rates})
