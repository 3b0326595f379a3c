"""pretraining: B0's splits (train, then held-out images of each coarse group) and its pretraining loop.

The loop's ``fit``, probe and weight writer are replaced by stand-ins, so what is checked is which runs
it makes and what it records; the training itself is tested in test_pretraining.py and test_train_torch.py.
"""

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

pytest.importorskip("torch")

from fashionlib import fmnist_standin, pretraining  # noqa: E402
from fashionlib.train_torch import TrainConfig  # noqa: E402


def test_splits_train_on_per_group_images_and_hold_out_the_next(fmnist_dir):
    s = pretraining.pretraining_splits(5, 3)
    groups = len(fmnist_standin.FMNIST_COARSE_GROUPS)
    assert len(s.train_idx) == 5 * groups and len(s.val_idx) == 3 * groups and list(s.test_idx) == list(s.val_idx)
    assert not s.train_augment.any() and list(s.train_idx_original) == list(s.train_idx)
    assert np.bincount(s.source.labels[s.val_idx]).tolist() == [3] * groups
    assert s.class_names == list(s.source.class_names) == list(fmnist_standin.FMNIST_COARSE_GROUPS)
    held = fmnist_standin.fmnist_pretraining_set(3, skip=5)
    assert np.array_equal(s.source.arrays[s.val_idx], held.arrays), "held out: the images after the training ones"


def test_pretrain_backbones_records_every_backbone_and_seed(tmp_path, monkeypatch):
    saved = {}

    def fake_fit(cfg, splits=None):
        return {"model": SimpleNamespace(backbone=(cfg.backbone, cfg.seed)), "wall_s": 1.0, "seed": cfg.seed}

    def fake_as_run(r, setting, model_file=None):
        return {"setting": setting, "seed": r["seed"], "model_file": model_file,
                "metrics": {"accuracy": 80.0, "train_accuracy": 70.0, "train_loss": 0.5, "macro_f1": 1.0}}

    def fake_save(backbone, path, name, recipe):
        saved[Path(path).name] = (backbone, recipe)
        return path

    monkeypatch.setattr(pretraining, "fit", fake_fit)
    monkeypatch.setattr(pretraining, "as_run", fake_as_run)
    monkeypatch.setattr(pretraining, "linear_probe", lambda model, src, size, seed: 60.0 + seed)
    monkeypatch.setattr(pretraining.torch_models, "save_backbone_weights", fake_save)
    params = {"seeds": [0, 1], "backbones": ["vit_micro", "beit_micro"], "per_group": 5, "image_size": 16,
              "epochs": 1, "batch_size": 8, "lr": 0.01}
    runs, paths = pretraining.pretrain_backbones(TrainConfig(), None, None, params, tmp_path, 3)
    assert [(r["seed"], r["setting"]["backbone"]) for r in runs] == [
        (0, "vit_micro"), (0, "beit_micro"), (1, "vit_micro"), (1, "beit_micro")]
    assert runs[2]["metrics"] == {"coarse_accuracy": 80.0, "probe_accuracy": 61.0, "train_accuracy": 70.0,
                                  "train_loss": 0.5}
    assert runs[0]["setting"] == {"backbone": "vit_micro", "stage": "pretraining", "task": "coarse groups"}
    assert sorted(paths) == sorted(saved) and paths[runs[3]["model_file"]] == tmp_path / runs[3]["model_file"]
    backbone, recipe = saved[runs[3]["model_file"]]
    assert backbone == ("beit_micro", 1) and recipe["seed"] == 1 and recipe["held_out_per_group"] == 3
    assert recipe["per_group"] == 5 and recipe["task"].startswith("coarse groups: ")
