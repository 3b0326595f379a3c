"""Study B training: one readable PyTorch loop (checkpoint/resume, bf16 on CUDA, DDP under torchrun).

Use it from Python::

    from fashionlib.train_torch import TrainConfig, fit
    result = fit(TrainConfig(backbone="deit_micro", epochs=3, image_size=32))

or from the command line, alone or under ``torchrun`` (DistributedDataParallel; gloo on CPU, nccl
on GPUs)::

    python -m fashionlib.train_torch --config run.json --out runs/x
    torchrun --nproc_per_node 2 -m fashionlib.train_torch --config run.json --out runs/x

``run.json`` holds :class:`TrainConfig` fields; ``--set name=value`` overrides one. ``batch_size`` is
the *global* batch: under DDP each of the ``W`` processes takes ``batch_size / W`` images per step,
and the data order, augmentation and gradients are the same as in one process.

:func:`fit` reads top to bottom: :func:`setup` (seeds, DDP, data, model, optimizer, loss, resume,
loaders), then the loop over epochs -- :func:`train_one_epoch`, :func:`end_epoch` (validate,
log, checkpoint) -- then :func:`finish` (test set, counts). Every epoch ends with a checkpoint
(model, optimizer, epoch, RNG state, history) written atomically into ``ckpt_dir``; a run started
again with the same ``ckpt_dir`` and configuration resumes after the last finished epoch and ends
with the same numbers as an uninterrupted run.

Speed options for a GPU, off by default (the published runs use none of them): ``compile``
(``torch.compile`` of the backbone), ``predecode`` (every image decoded once into a uint8 tensor on
the device; batches, normalisation and augmentation built there, with the same entries, order and
random draws as the default loader) and ``channels_last`` (NHWC convolutions; None: on CUDA only).
The tests show each gives the default path's numbers on the CPU (``tests/test_train_torch_speed.py``).

The pieces live beside it: the configuration in ``torch_config``, the splits and datasets in
``torch_data``, devices and seeding in ``torch_device``, metrics and the linear probe in ``torch_evaluation``.

Training metrics are the running averages over the epoch, measured *in training mode* (dropout
on) on the balanced, augmented training set -- as Keras and most loops report them. That is our
reading of why the paper's validation accuracy exceeds its training accuracy (book cell
``(b-val-above-train)``).
"""

from __future__ import annotations

import argparse
import dataclasses
import io
import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F

from . import apparel, balance, torch_models
from .files import PathError, atomic_write_bytes, atomic_write_text, check_writable_dir
from .torch_config import TrainConfig
from .torch_data import DeviceBatches, Splits, make_datasets, make_splits
from .torch_device import autocast, dist_env, pick_device, seed_everything, to_device, use_channels_last
from .torch_evaluation import classification_metrics, evaluate

CHECKPOINT_NAME = "checkpoint.pt"


class CheckpointError(ValueError):
    """A checkpoint is corrupt or was written by a different configuration."""


def start_torch_notebook(notebook: str, namespace: dict) -> tuple[dict, float]:
    """The first step of every study-B notebook, in one call (``backend.start_keras_notebook`` is study
    A's): note the start time, check the notebook's parameters (:func:`fashionlib.parameters_cell.validate`,
    reading its own ``parameters`` cell), hide tqdm's "IProgress not found" notice (timm imports
    ``tqdm.auto`` in a kernel without ipywidgets), set PyTorch's threads from its ``torch_threads``
    parameter where it has one, and stop before any work when its ``dataset`` needs files that are not there
    (:func:`apparel.require_data`: the paper profile's real data). Returns ``(params, started)``.
    """
    import warnings

    from .parameters_cell import validate

    started = time.time()
    params = validate(notebook, namespace)
    warnings.filterwarnings("ignore", message="IProgress not found")
    if "torch_threads" in params:
        torch.set_num_threads(params["torch_threads"])
    if "dataset" in params:
        apparel.require_data(params["dataset"], params.get("data_root"))
    return params, started


def make_optimizer(cfg: TrainConfig, params):
    if cfg.optimizer == "adam":
        return torch.optim.Adam(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    if cfg.optimizer == "rmsprop":
        return torch.optim.RMSprop(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    return torch.optim.SGD(params, lr=cfg.lr, weight_decay=cfg.weight_decay, momentum=cfg.momentum)


# ------------------------------------------------------------------------------ checkpoints -----
def save_checkpoint(path: Path, state: dict) -> None:
    buf = io.BytesIO()
    torch.save(state, buf)
    atomic_write_bytes(path, buf.getvalue())


def load_checkpoint(path: Path, cfg: TrainConfig) -> dict | None:
    if not path.is_file():
        return None
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise CheckpointError(f"checkpoint {path} is corrupt ({exc.__class__.__name__}). Fix: delete it "
                              "to start over, or point ckpt_dir at another folder.") from exc
    if state.get("config_key") != cfg.key():
        raise CheckpointError(f"checkpoint {path} was written by a different configuration. Fix: use a "
                              "new ckpt_dir for this configuration, or delete the old checkpoint.")
    return state


# ------------------------------------------------------------------------------------- fit ------
@dataclass
class Run:
    """What :func:`setup` prepares and the epoch loop works on."""

    cfg: TrainConfig
    rank: int
    world: int
    device: torch.device
    splits: Splits
    num_classes: int
    model: torch.nn.Module          # the bare model (evaluated, checkpointed, returned)
    ddp_model: torch.nn.Module      # the model trained (DistributedDataParallel under torchrun)
    optimizer: torch.optim.Optimizer
    train_labels: np.ndarray        # labels of the (balanced) training entries
    class_weight: torch.Tensor | None
    logit_offset: torch.Tensor | None
    train_ds: object
    sampler: object
    train_loader: object
    val_loader: object
    test_loader: object
    ckpt_path: Path | None
    history: list
    start_epoch: int
    stream: object = None           # where progress goes (None: a book build, one line per run)

    @property
    def show(self) -> bool:
        return self.cfg.progress and self.rank == 0


def setup(cfg: TrainConfig, splits: Splits | None = None) -> Run:
    """Seeds, process group, data, model, optimizer, loss terms, resume state and loaders."""
    # ---------------------------------------------------------------- processes and seeds --
    rank, world, local_rank = dist_env()
    device = pick_device(cfg, local_rank)
    if world > 1 and not torch.distributed.is_initialized():
        torch.distributed.init_process_group("nccl" if device.type == "cuda" else "gloo")
    if device.type == "cuda":
        torch.cuda.set_device(device)
    if cfg.batch_size % world:
        raise ValueError(f"batch_size={cfg.batch_size} must be divisible by the {world} processes.")
    seed_everything(cfg.seed, device)

    # ------------------------------------------------------------ data, model, optimizer --
    splits = splits if splits is not None else make_splits(cfg)
    num_classes = len(splits.class_names)
    model = torch_models.build_model(
        cfg.backbone, num_classes, image_size=cfg.image_size, edgenet=cfg.edgenet, dropout=cfg.dropout,
        pretrained=cfg.pretrained, weights_file=cfg.weights_file, trainable_blocks=cfg.trainable_blocks)
    train_ds, val_ds, test_ds = make_datasets(cfg, splits, model)
    model = model.to(device)
    if use_channels_last(cfg.channels_last, device):
        model = model.to(memory_format=torch.channels_last)
    optimizer = make_optimizer(cfg, [p for p in model.parameters() if p.requires_grad])

    # ---------------------------------------- loss: plain, class-weighted or logit-adjusted --
    train_labels = splits.source.labels[splits.train_idx]
    weight = None
    if cfg.balance == "class_weights":
        weight = torch.tensor(balance.class_weights(train_labels, num_classes), dtype=torch.float32, device=device)
    offset = (balance.logit_adjustment(train_labels, num_classes, cfg.logit_tau).to(device)
              if cfg.balance == "logit_adjust" else None)

    # ------------------------------------------------------------------------------ resume --
    ckpt_path = Path(cfg.ckpt_dir) / CHECKPOINT_NAME if cfg.ckpt_dir else None
    state = load_checkpoint(ckpt_path, cfg) if ckpt_path else None
    history, start_epoch = [], 0
    if state is not None:
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        history, start_epoch = list(state["history"]), int(state["epoch"])
        torch.set_rng_state(state["torch_rng"])
        if device.type == "cuda" and "cuda_rng" in state:
            torch.cuda.set_rng_state(state["cuda_rng"])

    # ----------------------------------------------------------------------------- loaders --
    ddp_model = model
    if world > 1:
        ddp_model = torch.nn.parallel.DistributedDataParallel(
            model, device_ids=[device.index] if device.type == "cuda" else None)
    if cfg.compile:
        torch_models.compile_backbone(model)
    sampler = torch.utils.data.DistributedSampler(train_ds, num_replicas=world, rank=rank, shuffle=True,
                                                  seed=cfg.seed)
    eval_bs = max(cfg.batch_size, 64)
    if cfg.predecode:  # decoded once (num_workers processes), then batches from uint8 tensors on the device
        for ds in (train_ds, val_ds, test_ds):
            ds.predecode(device, cfg.num_workers)
        train_loader = DeviceBatches(train_ds, cfg.batch_size // world, sampler)
        val_loader, test_loader = DeviceBatches(val_ds, eval_bs), DeviceBatches(test_ds, eval_bs)
    else:
        loader_kw = dict(num_workers=cfg.num_workers, pin_memory=device.type == "cuda",
                         persistent_workers=False)
        train_loader = torch.utils.data.DataLoader(train_ds, batch_size=cfg.batch_size // world, sampler=sampler,
                                                   **loader_kw)
        val_loader = torch.utils.data.DataLoader(val_ds, batch_size=eval_bs, **loader_kw)
        test_loader = torch.utils.data.DataLoader(test_ds, batch_size=eval_bs, **loader_kw)
    from .progress import progress_stream

    stream = progress_stream() if cfg.progress and rank == 0 else None
    return Run(cfg=cfg, rank=rank, world=world, device=device, splits=splits, num_classes=num_classes, model=model,
               ddp_model=ddp_model, optimizer=optimizer, train_labels=train_labels, class_weight=weight,
               logit_offset=offset, train_ds=train_ds, sampler=sampler, train_loader=train_loader,
               val_loader=val_loader, test_loader=test_loader, ckpt_path=ckpt_path, history=history,
               start_epoch=start_epoch, stream=stream)


def train_one_epoch(run: Run, epoch: int) -> dict:
    """One pass over the training loader; returns the epoch's running-average loss and accuracy."""
    from tqdm import tqdm

    cfg, device = run.cfg, run.device
    run.ddp_model.train()
    run.sampler.set_epoch(epoch)
    run.train_ds.set_epoch(epoch)
    sums = torch.zeros(3, dtype=torch.float64, device=device)  # loss*n, correct, n
    bar = tqdm(run.train_loader, desc=f"{cfg.backbone} epoch {epoch + 1}/{cfg.epochs}", leave=False,
               disable=run.stream is None, mininterval=1.0, file=run.stream)
    for x, y in bar:
        x, y = to_device(x, y, device, cfg.channels_last)
        with autocast(device):
            logits = run.ddp_model(x)
        logits = logits.float()
        loss = F.cross_entropy(logits if run.logit_offset is None else logits + run.logit_offset, y,
                               weight=run.class_weight)
        run.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        run.optimizer.step()
        sums += torch.stack([loss.detach().double() * len(y), (logits.argmax(1) == y).sum().double(),
                             torch.tensor(float(len(y)), dtype=torch.float64, device=device)])
    if run.world > 1:
        torch.distributed.all_reduce(sums)
    return {"epoch": epoch + 1, "train_loss": float(sums[0] / sums[2]),
            "train_acc": 100.0 * float(sums[1] / sums[2])}


def end_epoch(run: Run, row: dict) -> None:
    """Rank 0: validate, append to the history, print one line, write the checkpoint."""
    cfg, device = run.cfg, run.device
    if run.rank == 0:
        val = evaluate(run.model, run.val_loader, device, run.num_classes, cfg.channels_last)
        row.update({f"val_{k}": v for k, v in val.items() if k not in ("y_true", "y_pred")})
        run.history.append(row)
        line = (f"epoch {row['epoch']}/{cfg.epochs}: train loss {row['train_loss']:.4f} acc "
                f"{row['train_acc']:.2f}% | val loss {row['val_loss']:.4f} acc {row['val_acc']:.2f}% "
                f"F1 {row['val_f1']:.4f}")
        if run.stream is not None:
            print(line, file=run.stream, flush=True)
        if run.show and row["epoch"] == cfg.epochs and run.stream is not sys.stdout:  # one line per run on a page
            print(f"{cfg.backbone} (EdgeNet {cfg.edgenet}, balance {cfg.balance}, seed {cfg.seed}): {line}",
                  flush=True)
        if run.ckpt_path is not None:
            save_checkpoint(run.ckpt_path, {
                "epoch": row["epoch"], "model": run.model.state_dict(), "optimizer": run.optimizer.state_dict(),
                "history": run.history, "torch_rng": torch.get_rng_state(), "config_key": cfg.key(),
                **({"cuda_rng": torch.cuda.get_rng_state(device)} if device.type == "cuda" else {}),
            })
    if run.world > 1:
        torch.distributed.barrier()


def finish(run: Run, started: float, return_model: bool) -> dict:
    """Test-set evaluation (rank 0) and the result dict of :func:`fit`."""
    splits, n = run.splits, run.num_classes
    result = {"history": run.history, "class_names": splits.class_names, "resumed_from": run.start_epoch,
              "config": dataclasses.asdict(run.cfg), "world_size": run.world, "device": str(run.device),
              "params": torch_models.count_parameters(run.model),
              "counts": {
                  "train_before": np.bincount(splits.source.labels[splits.train_idx_original], minlength=n).tolist(),
                  "train_after": np.bincount(run.train_labels, minlength=n).tolist(),
                  "train_augmented_copies": int(splits.train_augment.sum()),
                  "val": np.bincount(splits.source.labels[splits.val_idx], minlength=n).tolist(),
                  "test": np.bincount(splits.test_labels, minlength=n).tolist()}}
    if run.rank == 0:
        result["test"] = evaluate(run.model, run.test_loader, run.device, n, run.cfg.channels_last)
        result["test_sets"] = {k: v.tolist() for k, v in splits.test_sets.items()}
    if run.world > 1:
        torch.distributed.barrier()
    result["wall_s"] = time.time() - started
    if return_model:
        result["model"] = run.model.cpu()
    return result


def fit(cfg: TrainConfig, splits: Splits | None = None, return_model: bool = True,
        on_epoch_end: Callable[[int], None] | None = None) -> dict:
    """Train, validate every epoch, checkpoint every epoch, test at the end. Returns a result dict.

    Keys: ``history`` (one dict per epoch: train/val loss, acc, precision, recall, f1), ``test``
    (metrics + predictions), ``class_names``, ``counts`` (train before/after balancing, val, test),
    ``params`` (total/trainable), ``resumed_from`` (epochs already done when started), ``wall_s``,
    and ``model`` (on CPU, when ``return_model``). ``on_epoch_end(epoch)`` is called after each
    epoch's checkpoint (the resume test kills the process there).
    """
    cfg.validate()
    started = time.time()
    run = setup(cfg, splits)
    for epoch in range(run.start_epoch, cfg.epochs):
        row = train_one_epoch(run, epoch)
        end_epoch(run, row)
        if on_epoch_end is not None:
            on_epoch_end(epoch + 1)
    return finish(run, started, return_model)


def final_metrics(result: dict) -> dict:
    """A flat summary: last epoch's train/val metrics and the test metrics (no predictions)."""
    last = result["history"][-1] if result["history"] else {}
    test = {f"test_{k}": v for k, v in result.get("test", {}).items() if k not in ("y_true", "y_pred")}
    return {**{k: v for k, v in last.items() if k != "epoch"}, **test}


# ------------------------------------------------------------------------------------- CLI ------
def _parse_set(items, cfg_dict):
    from .rules import parse_cli_value

    for item in items or []:
        if "=" not in item:
            raise SystemExit(f"--set expects name=value, got {item!r}")
        k, v = item.split("=", 1)
        if k not in cfg_dict:
            raise SystemExit(f"unknown TrainConfig field {k!r}; fields: {', '.join(cfg_dict)}")
        cfg_dict[k] = parse_cli_value(v)
    return cfg_dict


def main(argv=None, on_epoch_end: Callable[[int], None] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m fashionlib.train_torch", description=__doc__.split("\n")[0])
    ap.add_argument("--config", help="JSON file of TrainConfig fields")
    ap.add_argument("--set", action="append", metavar="NAME=VALUE", help="override one field")
    ap.add_argument("--out", help="folder for metrics.json (and the checkpoint, unless ckpt_dir is set)")
    args = ap.parse_args(argv)
    cfg_dict = dataclasses.asdict(TrainConfig())
    if args.config:
        p = Path(args.config)
        if not p.is_file():
            raise SystemExit(f"config file {p} does not exist")
        given = json.loads(p.read_text())
        unknown = set(given) - set(cfg_dict)
        if unknown:
            raise SystemExit(f"{p}: unknown TrainConfig fields {sorted(unknown)}")
        cfg_dict.update(given)
    cfg_dict = _parse_set(args.set, cfg_dict)
    if args.out and not cfg_dict.get("ckpt_dir"):
        cfg_dict["ckpt_dir"] = args.out
    try:  # before any work: a run would train, then fail to write its checkpoint or metrics
        for flag, folder in (("--out", args.out), ("ckpt_dir", cfg_dict.get("ckpt_dir"))):
            if folder:
                check_writable_dir(folder, flag)
    except PathError as exc:
        print(f"fashionlib.train_torch: error: {exc}", file=sys.stderr)
        return 2
    cfg = TrainConfig(**cfg_dict)
    result = fit(cfg, return_model=False, on_epoch_end=on_epoch_end)
    rank, world, _ = dist_env()
    if rank == 0 and args.out:
        out = {"final": final_metrics(result), "history": result["history"], "world_size": world,
               "resumed_from": result["resumed_from"], "config": result["config"],
               "wall_s": result["wall_s"]}
        atomic_write_text(Path(args.out) / "metrics.json", json.dumps(out, indent=1))
    if rank == 0:
        print(json.dumps(final_metrics(result)))
    if torch.distributed.is_initialized():
        torch.distributed.destroy_process_group()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())


def as_run(result: dict, setting: dict, model_file: str | None = None) -> dict:
    """One run of a results record (``results.write_record``) from a :func:`fit` result.

    Metrics (accuracies in percent): ``accuracy``, ``balanced_accuracy``, ``macro_f1``, ``loss``,
    many/medium/few-shot accuracy and ``recall_<k>`` of every class k on the test split (the stand-in:
    its balanced set); with a long-tailed held-out set (``TrainConfig.lt_test_max``) also ``lt_accuracy``,
    ``lt_balanced_accuracy`` and ``lt_macro_f1`` on it; ``val_accuracy``, ``best_val_accuracy``,
    ``val_macro_f1``, ``val_loss``, ``train_accuracy``, ``train_loss`` of the last epoch (training
    accuracy: the running average in training mode on the balanced, augmented training set). ``history``:
    the per-epoch values as lists.
    """
    from sklearn.metrics import recall_score

    hist = result["history"]
    last, test = hist[-1], result["test"]
    y_true, y_pred = np.asarray(test["y_true"]), np.asarray(test["y_pred"])
    sets = {k: np.asarray(v, dtype=np.int64) for k, v in result.get("test_sets", {}).items()}
    n = len(result["class_names"])
    main = sets.get("balanced", np.arange(len(y_true)))
    t = classification_metrics(y_true[main], y_pred[main], n) if "balanced" in sets else {
        "acc": test["acc"], "balanced_acc": test["balanced_acc"], "f1": test["f1"]}
    recall = recall_score(y_true[main], y_pred[main], labels=list(range(n)), average=None, zero_division=np.nan)
    metrics = {"accuracy": t["acc"], "balanced_accuracy": t["balanced_acc"], "macro_f1": t["f1"],
               "loss": test["loss"], "val_accuracy": last["val_acc"],
               "best_val_accuracy": max(h["val_acc"] for h in hist), "val_macro_f1": last["val_f1"],
               "val_loss": last["val_loss"], "train_accuracy": last["train_acc"], "train_loss": last["train_loss"],
               **balance.shot_accuracy(y_true[main], y_pred[main], result["counts"]["train_before"]),
               **{f"recall_{k}": 100.0 * float(r) for k, r in enumerate(recall)}}
    if "long_tailed" in sets:
        lt = classification_metrics(y_true[sets["long_tailed"]], y_pred[sets["long_tailed"]], n)
        metrics.update(lt_accuracy=lt["acc"], lt_balanced_accuracy=lt["balanced_acc"], lt_macro_f1=lt["f1"])
    return {"setting": dict(setting), "seed": int(result["config"]["seed"]), "metrics": metrics,
            "model_file": model_file, "history": {k: [h[k] for h in hist] for k in hist[0]}}
