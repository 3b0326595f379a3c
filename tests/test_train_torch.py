"""Study B training loop: determinism, resume after SIGKILL, DDP under torchrun (2 CPU processes, gloo)."""

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from fashionlib import train_torch
from fashionlib.train_torch import TrainConfig, fit, final_metrics


pytestmark = pytest.mark.usefixtures("one_torch_thread")


REPO = Path(__file__).resolve().parent.parent
# 10 classes x 16 balanced images = 160 = 10 batches of 16 (and 2 x 8 under DDP)
TINY = dict(dataset="fmnist_lt", imbalance_factor=10.0, n_max=60, balance="resample", balance_target=16,
            backbone="deit_micro", image_size=16, epochs=3, batch_size=16, lr=2e-3, dropout=0.1,
            progress=False, seed=0)


def _weights(model):
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


@pytest.mark.slow
def test_same_seed_same_numbers_and_weights_other_seed_differs(fmnist_dir):
    a = fit(TrainConfig(**{**TINY, "epochs": 2}))
    b = fit(TrainConfig(**{**TINY, "epochs": 2}))
    c = fit(TrainConfig(**{**TINY, "epochs": 2, "seed": 1}), return_model=False)
    assert final_metrics(a) == final_metrics(b)
    assert a["history"] == b["history"] and a["test"]["y_pred"] == b["test"]["y_pred"]
    wa, wb = _weights(a["model"]), _weights(b["model"])
    assert all(torch.equal(wa[k], wb[k]) for k in wa)
    assert final_metrics(a) != final_metrics(c)


def test_history_has_every_metric(fmnist_dir):
    r = fit(TrainConfig(**{**TINY, "epochs": 1, "balance": "logit_adjust", "edgenet": False}))
    row = r["history"][0]
    for k in ("train_loss", "train_acc", "val_loss", "val_acc", "val_precision", "val_recall", "val_f1"):
        assert np.isfinite(row[k])
    assert {"acc", "f1", "y_pred"} <= set(r["test"])


def test_class_weighted_loss_runs(fmnist_dir):
    r = fit(TrainConfig(**{**TINY, "epochs": 1, "balance": "class_weights", "optimizer": "sgd"}))
    assert len(r["history"]) == 1 and r["counts"]["train_augmented_copies"] == 0


# The CLI with a hook that SIGKILLs the process after epoch N's checkpoint (a real, unclean death).
KILL_AFTER = ("import os, signal, sys; from fashionlib import train_torch; "
              "n = int(sys.argv.pop(1)); "
              "train_torch.main(sys.argv[1:], on_epoch_end=lambda e: e == n and os.kill(os.getpid(), signal.SIGKILL))")


def _cli(cfg: dict, out: Path, torchrun: int = 0, timeout=300, kill_after: int | None = None):
    cfg_path = out.parent / (out.name + ".json")
    cfg_path.write_text(json.dumps(cfg))
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    if kill_after is not None:
        cmd = [sys.executable, "-c", KILL_AFTER, str(kill_after), "--config", str(cfg_path), "--out", str(out)]
    elif torchrun:
        cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", str(torchrun),
               "--master_port", str(29500 + os.getpid() % 1000),
               "-m", "fashionlib.train_torch", "--config", str(cfg_path), "--out", str(out)]
    else:
        cmd = [sys.executable, "-m", "fashionlib.train_torch", "--config", str(cfg_path), "--out", str(out)]
    return subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout)


def _metrics(out: Path) -> dict:
    return json.loads((out / "metrics.json").read_text())


@pytest.mark.slow
def test_resume_after_sigkill_matches_uninterrupted(tmp_path, fmnist_dir):
    cfg = {**TINY, "epochs": 2}  # killed after epoch 1, resumed for epoch 2
    full = _cli(cfg, tmp_path / "full")
    assert full.returncode == 0, full.stderr[-2000:]
    killed = _cli(cfg, tmp_path / "resumed", kill_after=1)
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-2000:]
    assert not (tmp_path / "resumed" / "metrics.json").exists()
    ckpt = torch.load(tmp_path / "resumed" / train_torch.CHECKPOINT_NAME, weights_only=True)
    assert ckpt["epoch"] == 1
    again = _cli(cfg, tmp_path / "resumed")
    assert again.returncode == 0, again.stderr[-2000:]
    a, b = _metrics(tmp_path / "full"), _metrics(tmp_path / "resumed")
    assert b["resumed_from"] == 1 and a["resumed_from"] == 0
    assert b["history"][:1] == ckpt["history"], "the resumed run's first epoch is the killed run's"
    assert a["history"] == b["history"]
    assert a["final"] == b["final"]


def test_checkpoint_of_another_configuration_is_refused(tmp_path, fmnist_dir):
    cfg = {**TINY, "epochs": 1, "ckpt_dir": str(tmp_path)}
    fit(TrainConfig(**cfg))
    with pytest.raises(train_torch.CheckpointError, match="different configuration"):
        fit(TrainConfig(**{**cfg, "lr": 0.5}))


def test_corrupt_checkpoint_is_a_clear_error(tmp_path, fmnist_dir):
    (tmp_path / train_torch.CHECKPOINT_NAME).write_bytes(b"half a checkpoint")
    with pytest.raises(train_torch.CheckpointError, match="corrupt"):
        fit(TrainConfig(**{**TINY, "epochs": 1, "ckpt_dir": str(tmp_path)}))


def test_bad_config_values_are_named():
    with pytest.raises(ValueError, match="optimizer"):
        fit(TrainConfig(**{**TINY, "optimizer": "adamw"}))
    with pytest.raises(ValueError, match="backbone"):
        fit(TrainConfig(**{**TINY, "backbone": "nope"}))
    with pytest.raises(ValueError, match="epochs"):
        fit(TrainConfig(**{**TINY, "epochs": 0}))
    with pytest.raises(ValueError, match="'image_size' is 2, smaller than the 4-pixel patch of backbone 'deit_micro'"):
        fit(TrainConfig(**{**TINY, "image_size": 2}))


def test_a_config_is_checked_when_built_and_when_replaced():
    import dataclasses

    with pytest.raises(ValueError, match="TrainConfig: parameter 'epochs' must be an integer >= 1; got 0"):
        TrainConfig(**{**TINY, "epochs": 0})
    with pytest.raises(ValueError, match="'image_size' is 2, smaller than the 4-pixel patch of backbone 'deit_micro'"):
        TrainConfig(**{**TINY, "image_size": 2})
    cfg = TrainConfig(**TINY)
    with pytest.raises(ValueError, match="TrainConfig: parameter 'optimizer' must be one of"):
        dataclasses.replace(cfg, optimizer="adamw")
    assert dataclasses.replace(cfg, epochs=5).epochs == 5


def test_config_from_params_takes_the_notebook_names():
    params = {"profile": "cpu", "backbones": ["deit_micro"], "lr": 0.01, "epochs": 2, "n_max": 60}
    cfg = TrainConfig.from_params(params, backbone="vit_micro")
    assert (cfg.lr, cfg.epochs, cfg.n_max, cfg.backbone) == (0.01, 2, 60, "vit_micro")
    with pytest.raises(ValueError, match="'lr0' was renamed 'lr'"):
        TrainConfig.from_params({"lr0": 0.01})


def test_on_epoch_end_is_called_after_each_checkpoint(tmp_path, fmnist_dir):
    seen = []

    def hook(epoch):
        seen.append((epoch, torch.load(tmp_path / train_torch.CHECKPOINT_NAME, weights_only=True)["epoch"]))

    fit(TrainConfig(**{**TINY, "epochs": 2, "ckpt_dir": str(tmp_path)}), return_model=False, on_epoch_end=hook)
    assert seen == [(1, 1), (2, 2)]


@pytest.mark.slow
def test_ddp_two_processes_match_one_process(tmp_path, fmnist_dir):
    cfg = {**TINY, "dropout": 0.0, "epochs": 2}
    one = _cli(cfg, tmp_path / "one")
    assert one.returncode == 0, one.stderr[-2000:]
    two = _cli(cfg, tmp_path / "two", torchrun=2)
    assert two.returncode == 0, two.stderr[-3000:]
    a, b = _metrics(tmp_path / "one"), _metrics(tmp_path / "two")
    assert a["world_size"] == 1 and b["world_size"] == 2
    for k, v in a["final"].items():
        assert b["final"][k] == pytest.approx(v, abs=2e-3), k


# ---------------------------------------------------------------- the loss that balancing rests on ---
# No resampling (class_weights / logit_adjust keep the long-tailed training split), no dropout, plain SGD:
# one step's reported loss is the loss at the initial weights, and the weights move by -lr * its gradient.
ONE_STEP = {**TINY, "balance": "none", "dropout": 0.0, "optimizer": "sgd", "momentum": 0.0, "lr": 0.5,
            "epochs": 1, "batch_size": 32}


def _hand_loss(logits, y, counts, balance, tau=1.0):
    """The balancing losses written out: class-weighted mean of -log p_y with w_c = n / (C n_c) (weights
    normalised by their sum over the batch); logit-adjusted cross-entropy on logits + tau * log(n_c / n)."""
    n, c = counts.sum(), len(counts)
    if balance == "logit_adjust":
        logits = logits + tau * torch.log(torch.as_tensor(counts / n, dtype=torch.float32))
    nll = -torch.log_softmax(logits, dim=1)[torch.arange(len(y)), y]
    if balance == "class_weights":
        w = torch.as_tensor(n / (c * counts), dtype=torch.float32)[y]
        return (w * nll).sum() / w.sum()
    return nll.mean()


@pytest.mark.parametrize("balance", ["class_weights", "logit_adjust"])
def test_balancing_loss_and_gradient_are_not_plain_cross_entropy(fmnist_dir, balance):
    import copy

    run = train_torch.setup(TrainConfig(**{**ONE_STEP, "balance": balance}))
    counts = np.bincount(run.train_labels, minlength=run.num_classes).astype(np.float64)
    assert counts.max() / counts.min() >= 5, "the training split must be long-tailed for the test to bite"
    x, y = next(iter(run.train_loader))
    start = copy.deepcopy(run.model).train()

    def step(loss_of):
        model = copy.deepcopy(start)
        loss = loss_of(model(x).float(), y)
        grads = torch.autograd.grad(loss, [p for p in model.parameters() if p.requires_grad])
        return float(loss.detach()), grads

    expected, g_exp = step(lambda lg, yy: _hand_loss(lg, yy, counts, balance))
    plain, g_plain = step(lambda lg, yy: _hand_loss(lg, yy, counts, "none"))
    assert abs(expected - plain) > 5e-3, (expected, plain)  # far beyond the tolerance below: the two differ
    run.train_loader = [(x, y)]  # exactly this batch, one step
    row = train_torch.train_one_epoch(run, 0)
    assert row["train_loss"] == pytest.approx(expected, rel=1e-5)
    moved = [(p1 - p0).detach() for p0, p1 in zip(start.parameters(), run.model.parameters()) if p0.requires_grad]
    lr = ONE_STEP["lr"]
    for d, ge, gp in zip(moved, g_exp, g_plain):
        torch.testing.assert_close(d, -lr * ge, rtol=1e-4, atol=1e-6)
    assert max(float((d + lr * gp).abs().max()) for d, gp in zip(moved, g_plain)) > 1e-4, "moved as plain CE would"


def test_data_order_changes_every_epoch_and_is_reproducible_per_seed(fmnist_dir):
    """The training loop draws a new order each epoch (not epoch 0's again), the same for the same seed,
    another for another seed; the loader reads the sampler when iterated, as a DataLoader does."""
    def orders(seed, epochs=3):
        run = train_torch.setup(TrainConfig(**{**ONE_STEP, "seed": seed, "lr": 1e-6}))
        batch, seen = next(iter(run.train_loader)), []

        class Recording:
            def __iter__(self):
                seen.append(list(run.sampler))
                return iter([batch])

        run.train_loader = Recording()
        for epoch in range(epochs):
            train_torch.train_one_epoch(run, epoch)
        return seen

    a, again, other = orders(0), orders(0), orders(1)
    assert sorted(a[0]) == sorted(a[1]) == list(range(len(a[0])))  # each epoch: a permutation of the set
    assert a[0] != a[1] and a[1] != a[2] and a[0] != a[2]
    assert a == again
    assert a[0] != other[0] and a[1] != other[1]


def test_a_run_records_each_metric_under_its_own_name():
    """as_run maps the loop's keys to the record's (test accuracy is the test split's, best_val_accuracy the
    best epoch's, the shot accuracies from the counts before balancing): a swapped key fails here."""
    hist = [{"epoch": 1, "train_loss": 1.5, "train_acc": 40.0, "val_loss": 1.2, "val_acc": 61.0, "val_f1": 0.5},
            {"epoch": 2, "train_loss": 1.1, "train_acc": 55.0, "val_loss": 1.0, "val_acc": 58.0, "val_f1": 0.55}]
    result = {"history": hist, "config": {"seed": 3}, "counts": {"train_before": [500, 50, 5]},
              "class_names": ["a", "b", "c"],
              "test": {"acc": 70.0, "balanced_acc": 66.0, "f1": 0.62, "loss": 0.9,
                       "y_true": [0, 0, 1, 1, 2, 2], "y_pred": [0, 0, 1, 0, 1, 1]}}
    run = train_torch.as_run(result, {"backbone": "deit_micro"}, "m.safetensors")
    assert run["metrics"] == {"accuracy": 70.0, "balanced_accuracy": 66.0, "macro_f1": 0.62, "loss": 0.9,
                              "val_accuracy": 58.0, "best_val_accuracy": 61.0, "val_macro_f1": 0.55,
                              "val_loss": 1.0, "train_accuracy": 55.0, "train_loss": 1.1,
                              "many_shot_accuracy": 100.0, "medium_shot_accuracy": 50.0, "few_shot_accuracy": 0.0,
                              "recall_0": 100.0, "recall_1": 50.0, "recall_2": 0.0}
    assert (run["seed"], run["setting"], run["model_file"]) == (3, {"backbone": "deit_micro"}, "m.safetensors")
    assert run["history"]["val_acc"] == [61.0, 58.0]


def test_cli_output_folder_that_is_a_file_stops_before_training(tmp_path, capsys):
    blocker = tmp_path / "metrics"
    blocker.write_text("a file")
    assert train_torch.main(["--out", str(blocker), "--set", "epochs=1"]) == 2
    err = capsys.readouterr().err
    assert f"--out {blocker} exists and is a file" in err and "Fix:" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["metrics"]
