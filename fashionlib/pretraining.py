"""B0's backbone pretraining: each micro backbone learns Fashion-MNIST's coarse groups on half A.

Study B's stand-in needs pretrained backbones without downloading any: B0 trains each one on the
coarse groups of half A of the Fashion-MNIST training set (``fmnist_standin.fmnist_pretraining_set``), keeps
its weights with a manifest of how they were made, and measures what they learned twice: accuracy on
held-out images of the same task, and a linear probe on the ten classes (``torch_evaluation.linear_probe``).
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np

from . import apparel, data, fmnist_standin, torch_models
from .torch_config import TrainConfig
from .torch_data import Splits
from .torch_evaluation import linear_probe
from .train_torch import as_run, fit


def pretraining_splits(per_group: int, held_out: int) -> Splits:
    """``per_group`` images of each coarse group to train on and the next ``held_out`` to validate on
    (also the test split: B0 reports held-out accuracy), never balanced or augmented."""
    train_src = fmnist_standin.fmnist_pretraining_set(per_group)
    held_src = fmnist_standin.fmnist_pretraining_set(held_out, skip=per_group)
    source = apparel.ImageSource(np.concatenate([train_src.labels, held_src.labels]), train_src.class_names,
                                 arrays=np.concatenate([train_src.arrays, held_src.arrays]), name=train_src.name)
    train_idx, val_idx = np.arange(len(train_src)), len(train_src) + np.arange(len(held_src))
    return Splits(source, train_idx, np.zeros(len(train_idx), bool), train_idx, val_idx, val_idx,
                  list(source.class_names))


def pretrain_backbones(cfg: TrainConfig, splits: Splits, probe_src, params: dict, folder: Path, held_out: int):
    """Pretrain every backbone of ``params["backbones"]`` on every seed of ``params["seeds"]``; returns
    ``(runs, paths)``: the record's runs (metrics: coarse_accuracy on the held-out images, probe_accuracy,
    train_accuracy, train_loss) and weights file name -> the path it was saved to in ``folder``, with the
    recipe (the parameters that made it) in its manifest."""
    runs, paths = [], {}
    for seed in params["seeds"]:
        recipe = {"source": "Fashion-MNIST training set, half A (fmnist_standin.fmnist_halves)",
                  "per_group": params["per_group"], "held_out_per_group": held_out,
                  "task": "coarse groups: " + "; ".join(f"{g}: {', '.join(data.CLASS_NAMES[c] for c in m)}"
                                                        for g, m in fmnist_standin.FMNIST_COARSE_GROUPS.items()),
                  "image_size": params["image_size"], "epochs": params["epochs"], "batch_size": params["batch_size"],
                  "lr": params["lr"], "optimizer": "adam", "seed": seed, "edgenet": False}
        for name in params["backbones"]:
            r = fit(replace(cfg, backbone=name, seed=seed), splits=splits)
            file = torch_models.weights_name(name, seed)
            paths[file] = torch_models.save_backbone_weights(r["model"].backbone, folder / file, name=name, recipe=recipe)
            run = as_run(r, {"backbone": name, "stage": "pretraining", "task": "coarse groups"}, model_file=file)
            run["metrics"] = {"coarse_accuracy": run["metrics"]["accuracy"],
                              "probe_accuracy": linear_probe(r["model"], probe_src, params["image_size"], seed=seed),
                              "train_accuracy": run["metrics"]["train_accuracy"],
                              "train_loss": run["metrics"]["train_loss"]}
            runs.append(run)
            print(f"seed {seed} {name}: held-out coarse accuracy {run['metrics']['coarse_accuracy']:.2f}%, "
                  f"linear probe (10 classes) {run['metrics']['probe_accuracy']:.2f}% ({r['wall_s']:.0f} s)", flush=True)
    return runs, paths
