"""Study A's vectorised path (``fast_path="vmap"``): the seeds of a setting trained together, in one program.

The improved CNN is so small that on a GPU a training step costs launches, not arithmetic. This module
trains M runs at once: their weights, optimizer states and random-layer states are stacked along a leading
"member" axis, and one compiled program per epoch (``jax.lax.scan`` over the steps) applies Keras 3's
stateless API (``model.stateless_call``, ``optimizer.stateless_apply``) under ``jax.vmap``.

Per member it is the run that ``train_keras.fit`` trains on its fast path (``fast_path=True``), up to
floating-point rounding (a vectorised convolution is summed in another order):

* the initial weights: ``set_determinism(seed)`` then ``build_model``, as ``fit`` does;
* the data order: ``keras_batches.epoch_order(seed, epoch, n)``, as ``EpochShuffledBatches``;
* the dropout (and augmentation) masks: each random layer's state is set to
  ``[keras_batches.dropout_seed(seed, epoch, i), 0]`` at each epoch start, as ``EpochSeeder``, and advanced
  by the layers themselves within the epoch (the state is one of the model's non-trainable variables);
* the per-step learning rate: the member's own schedule evaluated at every step
  (``schedules.schedule_rates``, which is also the learning-rate log of every path) and handed to the
  optimizer as its rate at that step, so members may differ in ``schedule``, ``lr`` and ``lr_end``;
* the history: per epoch the mean training loss and accuracy over the epoch's batches, then the
  validation loss and accuracy in batches of ``eval_batch_size`` (the numbers Keras' ``fit`` logs).

What it leaves out: a resume folder (``BackupAndRestore``; a group of runs trains in seconds on a GPU),
callbacks, and the modern recipe (host-side crop/flip). ``tests/test_train_vmap.py`` compares it with the
single-run fast path seed by seed.
"""

from __future__ import annotations

import dataclasses
import math
import time

import keras
import numpy as np

from .keras_models import build_model
from .rules import check_value
from .schedules import make_schedule, schedule_rates

# FitConfig fields the members of one vectorised group may differ in (they enter only through the seed's
# draws and the per-step learning rates); every other field must be the same for all members.
MEMBER_FIELDS = ("seed", "lr", "lr_end", "schedule", "fast_path")


def group_key(cfg) -> tuple:
    """What a configuration must share with the others of its vectorised group (see :data:`MEMBER_FIELDS`)."""
    return tuple(sorted((k, v) for k, v in dataclasses.asdict(cfg).items() if k not in MEMBER_FIELDS))


def _check(data: dict, configs: list, eval_batch_size) -> None:
    from .train_keras import FitConfig

    if keras.backend.backend() != "jax":
        raise ValueError(f"fast_path='vmap' runs on the JAX backend only, not {keras.backend.backend()!r}. "
                         "Fix: -p backend jax, or fast_path True/False.")
    if not configs:
        raise ValueError("fit_seeds: no configuration given; pass one FitConfig per run.")
    bad = [c for c in configs if not isinstance(c, FitConfig)]
    if bad:
        raise TypeError(f"fit_seeds takes train_keras.FitConfig objects, got {type(bad[0]).__name__}.")
    if len({c.seed for c in configs}) != len(configs):
        raise ValueError(f"fit_seeds: two members share a seed ({[c.seed for c in configs]}); they would be one run twice.")
    keys = {group_key(c) for c in configs}
    if len(keys) > 1:
        diff = sorted({k for key in keys for k, v in key if any(dict(o).get(k) != v for o in keys)})
        raise ValueError(f"fit_seeds: the members differ in {', '.join(diff)}; one group may differ only in "
                         f"{', '.join(MEMBER_FIELDS)}. Fix: one fit_seeds call per setting (run_many groups them).")
    cfg = configs[0]
    if cfg.recipe != "paper":
        raise ValueError("fast_path='vmap' trains the paper recipe only (the modern recipe's crop/flip batches are "
                         "drawn on the host). Fix: fast_path=False with recipe='modern'.")
    check_value("eval_batch_size", eval_batch_size, where="fit_seeds: ")
    has_val = len(data["x_val"]) > 0
    if cfg.validation == "test" and has_val:
        raise ValueError("validation='test' needs data without a validation split (data.prepare_data(..., val_size=0)).")
    if cfg.validation == "split" and not has_val:
        raise ValueError("validation='split' needs a validation split, but this data has none (val_size=0).")
    if cfg.validation == "test" and cfg.diagnostic_test:
        raise ValueError("diagnostic_test=True is redundant with validation='test'; pass diagnostic_test=False.")


def fit_seeds(data: dict, configs: list, *, eval_batch_size: int | None = None, verbose: int = 0) -> list:
    """Train one run per configuration together, vectorised over the runs; one ``train_keras.FitResult`` each,
    in order, with the model, history and learning-rate log that ``train_keras.fit`` gives that run on its
    fast path (up to rounding; see the module docstring).

    ``configs``: ``FitConfig`` objects that differ only in :data:`MEMBER_FIELDS` (``run_many`` groups a
    notebook's runs so). The timings in each history are the group's: ``seconds`` is the wall-clock time
    of the epoch in which all members trained.
    """
    import jax
    import jax.numpy as jnp

    from .keras_batches import dropout_seed, epoch_order
    from .keras_callbacks import _seed_generators
    from .train_keras import DIAGNOSTIC_TEST_KEY, FitResult, make_optimizer, set_determinism

    configs = list(configs)
    _check(data, configs, eval_batch_size)
    t0 = time.perf_counter()
    cfg0, M = configs[0], len(configs)
    n = len(data["x_train"])
    bs = cfg0.batch_size
    steps = math.ceil(n / bs)
    n_full, rem = divmod(n, bs)
    total = steps * cfg0.epochs
    eval_bs = eval_batch_size or max(bs, 1024)

    # one model per member, built as fit builds it (the initial weights); the first is also the template
    nets = []
    for c in configs:
        set_determinism(c.seed)
        nets.append(build_model(c.model, augment=c.augment))
    net = nets[0]
    opt = make_optimizer(cfg0.optimizer, 0.0, cfg0.momentum)  # its rate: set per member and step below
    opt.build(net.trainable_variables)
    lr_index = next(i for i, v in enumerate(opt.variables) if v is opt._learning_rate)
    seed_states = [sg.state for sg in _seed_generators(net)]
    ntv_ids = [id(v) for v in net.non_trainable_variables]
    seed_slots = [ntv_ids.index(id(s)) for s in seed_states]
    seed_dtype = keras.backend.standardize_dtype(seed_states[0].dtype) if seed_states else "uint32"
    rates = np.stack([schedule_rates(make_schedule(c.schedule, lr0=c.lr, steps_per_epoch=steps, epochs=c.epochs,
                                                   lr_end=c.lr_end), np.arange(total)).astype("float32")
                      for c in configs])  # (M, total)

    def stack(values_per_member):
        return [jnp.stack([jnp.asarray(v) for v in vs]) for vs in zip(*values_per_member)]

    tv = stack([[v.value for v in m.trainable_variables] for m in nets])
    ntv = stack([[v.value for v in m.non_trainable_variables] for m in nets])
    ov = stack([[v.value for v in opt.variables]] * M)
    loss_fn = keras.losses.SparseCategoricalCrossentropy()

    def train_step(tv, ntv, ov, lr, xb, yb):  # one member, one batch
        def loss_of(tv):
            y_pred, ntv2, losses = net.stateless_call(tv, ntv, xb, training=True, return_losses=True)
            loss = loss_fn(yb, y_pred)
            for extra in losses:
                loss = loss + extra
            return loss, (y_pred, ntv2)

        (loss, (y_pred, ntv2)), grads = jax.value_and_grad(loss_of, has_aux=True)(tv)
        ov = list(ov)
        ov[lr_index] = lr.astype(ov[lr_index].dtype)
        tv2, ov2 = opt.stateless_apply(ov, grads, tv)
        correct = jnp.sum(jnp.argmax(y_pred, axis=-1) == yb.astype("int32")).astype("float32")
        return tv2, ntv2, ov2, loss, correct

    vstep = jax.vmap(train_step)

    def run_epoch(tv, ntv, ov, x, y, order, lr):  # order (M, n) int32, lr (M, steps)
        def one(carry, s, size):
            tv, ntv, ov, loss_sum, correct = carry
            idx = jax.lax.dynamic_slice_in_dim(order, s * bs, size, axis=1)
            tv, ntv, ov, loss, corr = vstep(tv, ntv, ov, lr[:, s], x[idx], y[idx])
            return (tv, ntv, ov, loss_sum + loss * size, correct + corr)

        zero = jnp.zeros((M,), "float32")
        carry = (tv, ntv, ov, zero, zero)
        if n_full:
            carry, _ = jax.lax.scan(lambda c, s: (one(c, s, bs), None), carry, jnp.arange(n_full))
        if rem:
            carry = one(carry, n_full, rem)
        tv, ntv, ov, loss_sum, correct = carry
        return tv, ntv, ov, loss_sum / n, correct / n

    run_epoch = jax.jit(run_epoch, donate_argnums=(0, 1, 2))

    @jax.jit
    def eval_batch(tv, ntv, xb, yb):  # every member on the same images
        def one(tv, ntv):
            y_pred, _ = net.stateless_call(tv, ntv, xb, training=False)
            correct = jnp.sum(jnp.argmax(y_pred, axis=-1) == yb.astype("int32")).astype("float32")
            return loss_fn(yb, y_pred), correct
        return jax.vmap(one)(tv, ntv)

    def evaluate(tv, ntv, x, y):
        loss_sum, correct = np.zeros(M, "float64"), np.zeros(M, "float64")
        for start in range(0, len(x), eval_bs):
            xb, yb = x[start:start + eval_bs], y[start:start + eval_bs]
            loss, corr = eval_batch(tv, ntv, xb, yb)
            loss_sum += np.asarray(loss, "float64") * len(xb)
            correct += np.asarray(corr, "float64")
        return loss_sum / len(x), correct / len(x)

    x_dev, y_dev = jnp.asarray(data["x_train"]), jnp.asarray(data["y_train"])
    if cfg0.validation == "split":
        x_val, y_val = jnp.asarray(data["x_val"]), jnp.asarray(data["y_val"])
    else:
        x_val, y_val = jnp.asarray(data["x_test"]), jnp.asarray(data["y_test"])
    x_test, y_test = jnp.asarray(data["x_test"]), jnp.asarray(data["y_test"])
    rows = [[] for _ in configs]
    t_train = time.perf_counter()
    for epoch in range(cfg0.epochs):
        t_epoch = time.perf_counter()
        order = jnp.asarray(np.stack([epoch_order(c.seed, epoch, n) for c in configs]).astype("int32"))
        for i, slot in enumerate(seed_slots):
            ntv[slot] = jnp.asarray(np.array([[dropout_seed(c.seed, epoch, i), 0] for c in configs], dtype=seed_dtype))
        lr = jnp.asarray(rates[:, epoch * steps:(epoch + 1) * steps])
        tv, ntv, ov, loss, acc = run_epoch(tv, ntv, ov, x_dev, y_dev, order, lr)
        loss, acc = np.asarray(loss), np.asarray(acc)
        t_val = time.perf_counter()
        val_loss, val_acc = evaluate(tv, ntv, x_val, y_val)
        val_s = time.perf_counter() - t_val
        diag = None
        if cfg0.diagnostic_test:
            t_test = time.perf_counter()
            diag_acc = evaluate(tv, ntv, x_test, y_test)[1]
            now = time.perf_counter()
            diag = (diag_acc, now - t_train, now - t_test, val_s)
        seconds = time.perf_counter() - t_epoch
        for m in range(M):
            row = {"epoch": epoch, "seconds": seconds, "accuracy": float(acc[m]), "loss": float(loss[m]),
                   "val_accuracy": float(val_acc[m]), "val_loss": float(val_loss[m])}
            if diag is not None:
                row.update({DIAGNOSTIC_TEST_KEY: float(diag[0][m]), "elapsed_s": diag[1], "test_eval_s": diag[2],
                            "val_s": diag[3]})
            rows[m].append(row)
        if verbose:
            print(f"[fit_seeds] epoch {epoch + 1}/{cfg0.epochs}: {M} runs in {seconds:.1f} s, "
                  f"val_accuracy {', '.join(f'{a:.4f}' for a in val_acc)}", flush=True)

    import pandas as pd

    seconds = time.perf_counter() - t0
    results = []
    for m, (c, member) in enumerate(zip(configs, nets)):
        for v, value in zip(member.trainable_variables, tv):
            v.assign(value[m])
        for v, value in zip(member.non_trainable_variables, ntv):
            v.assign(value[m])
        history = pd.DataFrame(rows[m])
        if c.validation == "test":  # as fit: the per-epoch "validation" was the test set
            history = history.rename(columns={"val_accuracy": DIAGNOSTIC_TEST_KEY, "val_loss": "diagnostic_test_loss"})
        lr_log = pd.DataFrame({"step": np.arange(total), "learning_rate": rates[m].astype("float64")})
        params = {**c.as_dict(), "train_images": n, "backend": "jax", "steps_per_execution": "epoch",
                  "device_data": True, "eval_batch_size": eval_batch_size, "dtype_policy": "float32", "members": M}
        results.append(FitResult(member, history, lr_log, params, seconds))
    return results
