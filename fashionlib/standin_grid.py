"""B2's training grid on the stand-in: backbones x EdgeNet on/off x balancing methods x seeds.

Every run of one seed uses the same seeded split (the seed also draws the long-tailed subset, the
initialisation and the data order) and the pretrained weights of the seed's pretraining seed. The
balancing methods of ``balances`` run with every ``edgenet_options`` on every seed; the
``other_balances`` (EdgeNet on) and the ``control_backbones`` run on ``other_seeds`` only, as does the
from-scratch control (``scratch_control``: random initialisation, every block trained), which is kept
apart from the grid's runs so that it never pairs with them by accident.
"""

from __future__ import annotations

from dataclasses import replace

from . import torch_models
from .train_torch import TrainConfig, as_run, fit, make_splits


def check_grid(params: dict) -> None:
    """A ValueError with the fix when ``other_seeds`` is not a subset of ``seeds`` or ``control_backbones``
    not a subset of ``backbones`` (their runs would silently be missing from the grid)."""
    seeds, other_seeds = params["seeds"], params["other_seeds"]
    backbones, control_backbones = params["backbones"], params["control_backbones"]
    if not set(other_seeds) <= set(seeds):
        raise ValueError(f"other_seeds {other_seeds} must be a subset of seeds {seeds}. Fix: -p other_seeds '[0, 1, 2]'.")
    if not set(control_backbones) <= set(backbones):
        raise ValueError(f"control_backbones {control_backbones} must be a subset of backbones {backbones}. "
                         "Fix: -p control_backbones '[]'.")


def _log(seed, name, bal, edgenet, run: dict, result: dict) -> None:
    m = run["metrics"]
    print(f"seed {seed} {name} {bal} EdgeNet={edgenet}: long-tailed held-out {m.get('lt_accuracy', float('nan')):.2f}%, "
          f"balanced accuracy {m['balanced_accuracy']:.2f}%, train {m['train_accuracy']:.2f}% "
          f"({result['wall_s']:.0f} s)", flush=True)


def train_grid(cfg: TrainConfig, params: dict, weights: dict, pretrain_of: dict, init: str):
    """Train the grid; returns ``(runs, control, source_name)``.

    ``cfg``: the recipe each run varies with ``replace()``; ``params``: the notebook's parameters (seeds,
    backbones, control_backbones, balances, other_balances, other_seeds, edgenet_options,
    scratch_control, trainable_blocks, dataset); ``weights``: (backbone, pretraining seed) -> (file,
    sha256), empty without weight files; ``pretrain_of``: fine-tuning seed -> pretraining seed; ``init``:
    how the backbones start ("b0", "file", "timm" or "random"). ``runs``: the record's runs (setting:
    backbone, family, edgenet, balance, init, pretrain_seed, weights_sha256, trainable_blocks);
    ``control``: one row per from-scratch run; ``source_name``: the training data's name.
    """
    balances, other_seeds = params["balances"], params["other_seeds"]
    runs, control, source_name = [], [], params["dataset"]
    for s_ in params["seeds"]:
        p_ = pretrain_of[s_]
        extra = params["other_balances"] if s_ in other_seeds else []
        splits = {b: make_splits(replace(cfg, balance=b, seed=s_)) for b in balances + extra}
        source_name = splits[balances[0]].source.name or params["dataset"]
        for name in [b for b in params["backbones"] if s_ in other_seeds or b not in params["control_backbones"]]:
            family = torch_models.BACKBONES[name]["family"]
            wfile, digest = weights.get((name, p_), (None, None))
            for bal in balances + extra:
                for en in (params["edgenet_options"] if bal in balances else [True]):
                    r = fit(replace(cfg, backbone=name, balance=bal, edgenet=en, seed=s_, weights_file=wfile),
                            splits=splits[bal], return_model=False)
                    runs.append(as_run(r, {"backbone": name, "family": family, "edgenet": en, "balance": bal,
                                           "init": init, "pretrain_seed": p_, "weights_sha256": digest,
                                           "trainable_blocks": params["trainable_blocks"]}))
                    _log(s_, name, bal, en, runs[-1], r)
            if params["scratch_control"] and s_ in other_seeds:
                bal = balances[0]
                r = fit(replace(cfg, backbone=name, balance=bal, edgenet=True, seed=s_, pretrained=False,
                                trainable_blocks=-1), splits=splits[bal], return_model=False)
                control.append({"backbone": name, "family": family, "edgenet": True, "balance": bal,
                                "init": "scratch", "trainable_blocks": -1, "seed": s_, **as_run(r, {})["metrics"]})
    return runs, control, source_name
