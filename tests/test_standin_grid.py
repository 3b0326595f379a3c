"""standin_grid.train_grid: which runs the B2 grid trains, with which settings, and the scratch control.

``fit`` and ``make_splits`` are replaced by stand-ins that record their configurations, so the grid's
logic is checked in a blink; the training itself is tested in test_train_torch.py.
"""

from types import SimpleNamespace

import pytest

pytest.importorskip("torch")

from fashionlib import standin_grid  # noqa: E402
from fashionlib.train_torch import TrainConfig  # noqa: E402

PARAMS = {"seeds": [0, 1], "backbones": ["beit_micro", "vit_micro"], "control_backbones": ["vit_micro"],
          "balances": ["none", "resample"], "other_balances": ["class_weights"], "other_seeds": [0],
          "edgenet_options": [True, False], "scratch_control": True, "trainable_blocks": 2,
          "dataset": "fmnist_lt"}


@pytest.fixture
def trained(monkeypatch):
    calls = []

    def fake_fit(cfg, splits=None, return_model=True):
        assert splits.balance == cfg.balance and not return_model
        calls.append(cfg)
        return {"cfg": cfg}

    def fake_as_run(result, setting):
        return {"setting": setting, "seed": result["cfg"].seed,
                "metrics": {"balanced_accuracy": 50.0, "train_accuracy": 40.0, "from": result["cfg"]}}

    monkeypatch.setattr(standin_grid, "fit", fake_fit)
    monkeypatch.setattr(standin_grid, "as_run", fake_as_run)
    monkeypatch.setattr(standin_grid, "make_splits", lambda cfg: SimpleNamespace(
        balance=cfg.balance, source=SimpleNamespace(name="stand-in")))
    monkeypatch.setattr(standin_grid, "_log", lambda *a: None)
    weights = {("beit_micro", 0): ("b.safetensors", "abc"), ("vit_micro", 0): ("v.safetensors", "def")}
    runs, control, source = standin_grid.train_grid(TrainConfig(trainable_blocks=2), PARAMS, weights, {0: 0, 1: 0}, "b0")
    return runs, control, source, calls


def test_grid_runs_every_backbone_setting_and_seed_the_parameters_name(trained):
    runs, control, source, calls = trained
    keys = [(r["seed"], r["setting"]["backbone"], r["setting"]["balance"], r["setting"]["edgenet"]) for r in runs]
    seed0 = [(0, b, bal, en) for b in ("beit_micro", "vit_micro")
             for bal, en in [("none", True), ("none", False), ("resample", True), ("resample", False),
                             ("class_weights", True)]]
    seed1 = [(1, "beit_micro", bal, en) for bal in ("none", "resample") for en in (True, False)]
    assert keys == seed0 + seed1, "the control backbone and the other balances run on other_seeds only"
    assert source == "stand-in"
    r = runs[0]["setting"]
    assert r == {"backbone": "beit_micro", "family": "BEiT", "edgenet": True, "balance": "none", "init": "b0",
                 "pretrain_seed": 0, "weights_sha256": "abc", "trainable_blocks": 2}
    cfg = runs[-1]["metrics"]["from"]
    assert (cfg.backbone, cfg.balance, cfg.edgenet, cfg.seed, cfg.weights_file) == (
        "beit_micro", "resample", False, 1, "b.safetensors")


def test_the_scratch_control_is_apart_from_the_runs_and_trains_every_block(trained):
    runs, control, _, calls = trained
    assert [(c["backbone"], c["seed"], c["init"], c["balance"]) for c in control] == [
        ("beit_micro", 0, "scratch", "none"), ("vit_micro", 0, "scratch", "none")]
    scratch = [c for c in calls if c.trainable_blocks == -1]
    assert len(scratch) == 2 and all(not c.pretrained and c.edgenet and c.weights_file is None for c in scratch)
    assert len(calls) == len(runs) + len(control)


@pytest.mark.parametrize("change, message", [
    ({"other_seeds": [0, 5]}, r"other_seeds \[0, 5\] must be a subset of seeds \[0, 1\]"),
    ({"control_backbones": ["deit_micro"]}, r"control_backbones \['deit_micro'\] must be a subset of backbones"),
])
def test_check_grid_refuses_runs_outside_the_grid(change, message):
    standin_grid.check_grid(PARAMS)
    with pytest.raises(ValueError, match=message):
        standin_grid.check_grid({**PARAMS, **change})
