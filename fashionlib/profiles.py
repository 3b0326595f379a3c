"""Profiles (smoke / cpu / paper) per notebook, and validation of notebook parameters.

A notebook's ``parameters`` cell holds the defaults (the ``cpu`` profile). A profile overrides some
of them; ``-p name value`` overrides win over the profile. Everything is checked here *before* any
work is done: unknown names, wrong types and out-of-range values raise :class:`ParameterError`.

:data:`RULES` is the one place a parameter's range or choice is checked: the runner
(:func:`resolve`), the in-notebook check (:func:`validate`) and the training configurations
(``train_keras.FitConfig``, ``train_torch.TrainConfig``) all apply it. :data:`COMBINATIONS` holds
the checks that involve several parameters (a batch larger than the training set, an image smaller
than the backbone's patch, a parameter the chosen setting would ignore); they too run before work.
"""

from __future__ import annotations

import ast
import math
from typing import Callable

PROFILE_NAMES = ("smoke", "cpu", "standin", "paper")
# Study B's stand-in at its full setting (B0 pretraining + B2's grid, about an hour on a shared 2-core machine): the
# paper profile means the paper's data and weights, which are not here, so the stand-in has a profile of
# its own, with its records in book/results/standin and its executed pages in book/standin-runs.
STANDIN_NOTEBOOKS = ("b0_pretraining", "b2_backbones")
# Where each profile's executed notebooks go (the committed ones: paper and standin) under book/.
EXECUTED_DIRS = {"smoke": "executed", "cpu": "executed", "standin": "standin-runs", "paper": "paper-runs"}

# Choices shared by notebooks and library code (the single list of each).
KERAS_BACKENDS = ("tensorflow", "torch", "jax")
# Keras backends that can hold the training arrays on the device (study A's ``device_data`` / ``fast_path``).
DEVICE_DATA_BACKENDS = ("torch", "jax")
SCHEDULES = ("paper", "constant", "exponential", "inverse_time", "cosine")
KERAS_MODELS = ("improved_cnn", "improved_cnn_strided", "cnn", "lenet5", "lstm", "bilstm")
OPTIMIZERS = ("adam", "rmsprop", "sgd")
RECIPES = ("paper", "modern")  # study A training recipes (train_keras.FitConfig.recipe)
DATASETS_B = ("fmnist_lt", "folder", "csv", "fashion_product_images")
# Study B backbones (fashionlib.torch_models.BACKBONES holds their timm specs; a test keeps both equal).
BACKBONES_B = ("beit_base_patch16_224", "swinv2_cr_tiny_ns_224", "deit_base_patch16_224", "vit_base_patch16_224",
               "beit_micro", "swinv2_micro", "deit_micro", "vit_micro")
BALANCE_METHODS = ("none", "resample", "oversample", "class_weights", "logit_adjust")
# Study A: what Keras validates on after each epoch ("test": the Keras-tutorial protocol, a diagnostic).
VALIDATION_MODES = ("split", "test")

# Notebooks in reading order: the book's table of contents follows this list.
NOTEBOOKS = [
    "intro",
    "a0_fashion_mnist",
    "a1_improved_cnn",
    "a2_models",
    "a3_batch_size",
    "a4_lr_schedules",
    "a5_closing_the_gap",
    "a6_protocol",
    "a7_modern_recipe",
    "b0_pretraining",
    "b1_apparel_data",
    "b2_backbones",
    "b3_hyperparameters",
    "b4_curves",
    "performance",
    "run_it_yourself",
    "for_teachers",
    "execution_report",
]
# Summary pages read the other notebooks' records, so they run after everything else.
RUN_LAST = ("intro", "for_teachers", "execution_report")

# The paper's data (inferred: Kaggle's Fashion Product Images, apparel59 preset), unzipped under the
# repository root; the paper profile of study B trains on it and stops with a clear error without it.
PAPER_DATA = {"dataset": "fashion_product_images", "data_root": "data/fashion-product-images"}

# Overrides of each notebook's defaults, per profile. The notebook's own defaults are the `cpu` profile.
PROFILES: dict[str, dict[str, dict]] = {
    "intro": {"smoke": {}, "cpu": {}, "paper": {}},
    "performance": {"smoke": {}, "cpu": {}, "paper": {}},
    "run_it_yourself": {"smoke": {}, "cpu": {}, "paper": {}},
    "for_teachers": {"smoke": {}, "cpu": {}, "paper": {}},
    "execution_report": {"smoke": {}, "cpu": {}, "paper": {}},
    "a0_fashion_mnist": {
        "smoke": {"samples_per_class": 3},
        "cpu": {},
        "paper": {},
    },
    # Study A (Keras). cpu = the notebook defaults.
    "a1_improved_cnn": {
        "smoke": {"train_size": 512, "epochs": 1, "batch_size": 64, "seeds": [0]},
        "cpu": {},
        "paper": {"epochs": 50, "batch_size": 128, "seeds": [0, 1, 2], "train_size": None, "save_models": True},
    },
    "a2_models": {
        "smoke": {"train_size": 512, "epochs": 1, "batch_size": 64, "seeds": [0]},
        "cpu": {},
        "paper": {"epochs": 50, "lr_end": 1e-05, "batch_size": 128, "seeds": [0, 1, 2], "train_size": 48000, "save_models": True},
    },
    "a3_batch_size": {
        "smoke": {"train_size": 512, "epochs": 1, "batch_sizes": [64, 128], "seeds": [0]},
        "cpu": {},
        "paper": {"epochs": 50, "lr_end": 1e-05, "batch_sizes": [32, 64, 128, 256, 512], "seeds": [0, 1, 2], "train_size": 48000,
                  "save_models": True},
    },
    "a4_lr_schedules": {
        "smoke": {"train_size": 512, "epochs": 1, "batch_size": 64, "seeds": [0], "lrs": [0.1, 0.01, 0.001],
                  "schedules_to_compare": ["paper", "constant"], "include_sgd": False},
        "cpu": {},
        "paper": {"epochs": 50, "lr_end": 1e-05, "batch_size": 128, "seeds": [0, 1, 2], "train_size": 48000,
                  "lrs": [0.1, 0.01, 0.001], "include_sgd": True,
                  "schedules_to_compare": ["paper", "constant", "exponential", "inverse_time", "cosine"],
                  "save_models": True},
    },
    "a5_closing_the_gap": {
        "smoke": {"train_size": 512, "epochs": 1, "batch_size": 64, "seeds": [0], "lr_ends": [1e-4],
                  "augment_options": [False, True]},
        "cpu": {},
        "paper": {"epochs": 50, "batch_size": 128, "seeds": [0, 1, 2], "train_size": 48000, "save_models": True,
                  "models": ["improved_cnn", "improved_cnn_strided"]},
    },
    # Both readings of Table 1 x {48k split, all 60k}: >= 5 seeds each at the paper profile (a GPU session
    # can pass -p seeds "[0, 1, ..., 9]" and -p jobs N); A1's schedule (1e-3 -> 1e-5), batch 128, 50 epochs.
    "a6_protocol": {
        "smoke": {"train_size": 512, "epochs": 1, "batch_size": 64, "seeds": [0, 1], "models": ["improved_cnn"]},
        "cpu": {},
        "paper": {"epochs": 50, "batch_size": 128, "lr": 0.001, "lr_end": 1e-05, "schedule": "paper",
                  "optimizer": "adam", "seeds": [0, 1, 2, 3, 4], "train_size": 48000, "save_models": True,
                  "models": ["improved_cnn", "improved_cnn_strided"]},
    },
    # The Table-1 network with a modern recipe (crop/flip, label smoothing, AdamW + cosine, EMA, test-time
    # flip); label smoothing chosen on validation, the test set read once for the chosen value.
    # cpu: 12,000 images, 5 epochs, 2 seeds, the grid + A1's recipe beside it (sized for <= 5 min on 2 cores).
    "a7_modern_recipe": {
        "smoke": {"train_size": 512, "epochs": 1, "batch_size": 64, "seeds": [0], "warmup_epochs": 0},
        "cpu": {},
        "paper": {"train_size": 48000, "epochs": 40, "batch_size": 128, "seeds": [0, 1, 2], "ema_momentum": 0.999,
                  "save_models": True},
    },
    # Study B (PyTorch + timm). cpu = the notebook defaults (long-tailed Fashion-MNIST at 32 px, micro
    # backbones, random init); smoke = seconds; paper = 224 px, the real backbones, the paper's epochs (GPU).
    # B0 pretrains the micro backbones on half A of Fashion-MNIST on four coarse groups (never the ten fine
    # labels), two seeds; weights + manifests beside its record. cpu: 600 per group, 3 epochs; standin: 1,500
    # per group, 4 epochs. No paper profile: the paper's backbones come pretrained (timm), which B2's paper
    # profile loads.
    "b0_pretraining": {
        "smoke": {"per_group": 40, "image_size": 16, "epochs": 1, "seeds": [0], "probe_per_class": 10,
                  "backbones": ["vit_micro", "swinv2_micro"]},
        "cpu": {},
        "standin": {"per_group": 1500, "epochs": 4, "probe_per_class": 200},
    },
    "b1_apparel_data": {
        "smoke": {"n_max": 60, "imbalance_factor": 10.0, "balance_target": 10, "samples_per_class": 2},
        "cpu": {},
        "paper": {"image_size": 224, "backbone": "beit_base_patch16_224", "balance_target": 500, **PAPER_DATA},
    },
    "b2_backbones": {
        "smoke": {"n_max": 60, "imbalance_factor": 10.0, "balance_target": 10, "image_size": 16, "epochs": 1,
                  "backbones": ["vit_micro", "swinv2_micro"], "batch_size": 32, "seeds": [0, 1], "pretrain_seeds": [0],
                  "test_per_class": 20, "lt_test_max": 40, "other_balances": [], "other_seeds": [], "control_backbones": [],
                  "scratch_control": False},
        "cpu": {},
        "paper": {**PAPER_DATA, "torch_threads": 8, "image_size": 224, "balance_target": 500, "epochs": 30, "batch_size": 32,
                  "backbones": ["beit_base_patch16_224", "swinv2_cr_tiny_ns_224", "deit_base_patch16_224",
                                "vit_base_patch16_224"], "lr": 0.0001, "pretrained": True, "trainable_blocks": 4,
                  "seeds": [0, 1, 2, 3, 4], "weights_dir": "none", "scratch_control": False,
                  "other_balances": ["oversample", "class_weights", "logit_adjust"], "other_seeds": [0, 1, 2],
                  "control_backbones": []},
        # The stand-in's full setting: BEiT and Swin V2 x EdgeNet on/off x {none, resample} x 10 seeds (spread
        # over B0's 2 pretraining seeds), 10 epochs; ViT (the control), class weights and logit adjustment
        # (EdgeNet on) and the from-scratch control on 3 seeds; two held-out sets from the official test set (long-tailed, 400 in
        # the largest class, 986 images; balanced, 60 per class). Sized to about 30 min of one CPU core with
        # B0; oversampling (every class copied up to the largest: 4x the training images) is left to
        # -p other_balances '["oversample", ...]'.
        "standin": {"seeds": list(range(10)), "n_max": 200, "balance_target": 40, "epochs": 10,
                    "lt_test_max": 400, "test_per_class": 60,
                    "other_balances": ["class_weights", "logit_adjust"], "other_seeds": [0, 1, 2]},
    },
    "b3_hyperparameters": {
        "smoke": {"n_max": 60, "imbalance_factor": 10.0, "balance_target": 10, "image_size": 16,
                  "epoch_fraction": 0.02, "rows": [1, 2]},
        "cpu": {},
        "paper": {**PAPER_DATA, "torch_threads": 8, "image_size": 224, "balance_target": 500, "epoch_fraction": 1.0,
                  "backbone": "beit_base_patch16_224", "pretrained": True, "trainable_blocks": 4},
    },
    "b4_curves": {
        "smoke": {"n_max": 60, "imbalance_factor": 10.0, "balance_target": 10, "image_size": 16, "epochs": 2},
        "cpu": {},
        "paper": {**PAPER_DATA, "torch_threads": 8, "image_size": 224, "balance_target": 500, "epochs": 76, "lr": 0.0001,
                  "backbone": "beit_base_patch16_224", "pretrained": True, "trainable_blocks": 4},
    },
}


class ParameterError(ValueError):
    """A notebook parameter is unknown, of the wrong type, or out of range."""


# Study B: a parameter that only means something for some datasets -> the datasets it serves.
# Setting it for another dataset would be silently ignored, so that is an error (check_ignored).
USED_ONLY_WITH_DATASET = {
    "data_root": ("folder", "csv", "fashion_product_images"),
    "imbalance_factor": ("fmnist_lt",),
    "n_max": ("fmnist_lt",),
    "test_per_class": ("fmnist_lt",),
    "lt_test_max": ("fmnist_lt",),
}


def check_ignored(params: dict, given=(), where: str = "") -> None:
    """Raise ParameterError for a parameter the chosen ``dataset`` would ignore (see :data:`COMBINATIONS`)."""
    message = _dataset_uses_its_parameters(params, set(given))
    if message:
        raise ParameterError(where + message)


def _positive_int(v):
    return isinstance(v, int) and not isinstance(v, bool) and v > 0


def _positive_number(v):
    return isinstance(v, (int, float)) and not isinstance(v, bool) and v > 0 and math.isfinite(v)


def _choice(options):
    return lambda v: v in options, f"one of {', '.join(map(repr, options))}"


# name -> (check, what a valid value is). Applied wherever the name appears, in any notebook.
RULES = {
    "profile": _choice(PROFILE_NAMES),
    "epochs": (_positive_int, "an integer >= 1"),
    "batch_size": (_positive_int, "an integer >= 1"),
    "batch_sizes": (lambda v: isinstance(v, list) and v and all(_positive_int(x) for x in v),
                    "a non-empty list of integers >= 1"),
    "lr": (_positive_number, "a number > 0 (the first learning rate)"),
    "lr_end": (_positive_number, "a number > 0 (the rate a decaying schedule reaches at the last step)"),
    "lrs": (lambda v: isinstance(v, list) and v and all(_positive_number(x) for x in v),
            "a non-empty list of numbers > 0"),
    "momentum": (lambda v: isinstance(v, (int, float)) and not isinstance(v, bool) and 0 <= v < 1,
                 "a number in [0, 1) (SGD only)"),
    "augment": (lambda v: isinstance(v, bool), "True or False"),
    "validation": _choice(VALIDATION_MODES),
    "diagnostic_test": (lambda v: isinstance(v, bool), "True or False"),
    "fast_path": (lambda v: isinstance(v, bool) or v == "vmap",
                  "True (whole epochs per compiled call, data on the device; JAX/torch backends), 'vmap' (the "
                  "seeds of a setting trained together in one program; JAX backend) or False"),
    "weight_decay": (lambda v: isinstance(v, (int, float)) and v >= 0, "a number >= 0"),
    "dropout": (lambda v: isinstance(v, (int, float)) and 0 <= v < 1, "a number in [0, 1)"),
    "imbalance_factor": (lambda v: isinstance(v, (int, float)) and not isinstance(v, bool) and v >= 1,
                         "a number >= 1 (1 means balanced)"),
    "seed": (lambda v: isinstance(v, int) and not isinstance(v, bool) and v >= 0, "an integer >= 0"),
    "seeds": (lambda v: isinstance(v, list) and v and len(set(v)) == len(v)
              and all(isinstance(s, int) and not isinstance(s, bool) and s >= 0 for s in v),
              "a non-empty list of distinct integers >= 0"),
    "train_size": (lambda v: v is None or _positive_int(v), "None (all) or an integer >= 1"),
    "samples_per_class": (_positive_int, "an integer >= 1"),
    "backend": _choice(KERAS_BACKENDS),
    "schedule": _choice(SCHEDULES),
    "schedules": (lambda v: isinstance(v, list) and v and all(s in SCHEDULES for s in v),
                  f"a non-empty list drawn from {', '.join(SCHEDULES)}"),
    "schedules_to_compare": (lambda v: isinstance(v, list) and v and all(s in SCHEDULES for s in v),
                             f"a non-empty list drawn from {', '.join(SCHEDULES)}"),
    "model": _choice(KERAS_MODELS),
    "models": (lambda v: isinstance(v, list) and v and all(m in KERAS_MODELS for m in v),
               f"a non-empty list drawn from {', '.join(KERAS_MODELS)}"),
    "optimizer": _choice(OPTIMIZERS),
    "dataset": _choice(DATASETS_B),
    "image_size": (_positive_int, "an integer >= 1"),
    # Study B
    "backbone": _choice(BACKBONES_B),
    "backbones": (lambda v: isinstance(v, list) and v and all(b in BACKBONES_B for b in v),
                  f"a non-empty list drawn from {', '.join(BACKBONES_B)}"),
    "balance": _choice(BALANCE_METHODS),
    "balances": (lambda v: isinstance(v, list) and v and all(b in BALANCE_METHODS for b in v),
                 f"a non-empty list drawn from {', '.join(BALANCE_METHODS)}"),
    "balance_target": (lambda v: _positive_int(v) or v in ("median", "mean", "max", "min"),
                       "an integer >= 1 (images per class after balancing) or 'median', 'mean', 'max', 'min'"),
    "edgenet": (lambda v: isinstance(v, bool), "True or False"),
    "edgenet_options": (lambda v: isinstance(v, list) and v and all(isinstance(b, bool) for b in v),
                        "a non-empty list of True/False"),
    "pretrained": (lambda v: isinstance(v, bool), "True or False"),
    "trainable_blocks": (lambda v: isinstance(v, int) and not isinstance(v, bool) and v >= -1,
                         "-1 (train everything) or an integer >= 0 (last blocks trained)"),
    "n_max": (lambda v: _positive_int(v) and v <= 3000,
              "an integer in 1..3000 (images of the largest class; half B has 3,000 per class)"),
    "epoch_fraction": (lambda v: isinstance(v, (int, float)) and not isinstance(v, bool) and 0 < v <= 1,
                       "a number in (0, 1] (share of the paper's epochs to run)"),
    "rows": (lambda v: isinstance(v, list) and v and all(isinstance(r, int) and 1 <= r <= 4 for r in v),
             "a non-empty list of row numbers 1..4 of the paper's table"),
    "logit_tau": (lambda v: isinstance(v, (int, float)) and not isinstance(v, bool) and v >= 0, "a number >= 0"),
    "torch_threads": (_positive_int, "an integer >= 1 (CPU threads for torch)"),
    # B0: images per coarse group from half A; the one-class groups (Trouser, Bag) have 3,000 images
    # there, and B0 holds 250 of each group out
    "per_group": (lambda v: _positive_int(v) and v <= 2750, "an integer in 1..2750 (images per coarse group from "
                                                             "half A, which B0 holds 250 more of out)"),
    "probe_per_class": (lambda v: _positive_int(v) and 2 <= v <= 1000,
                        "an integer in 2..1000 (half B images per class for B0's linear probe)"),
    "pretrain_seeds": (lambda v: isinstance(v, list) and v and len(set(v)) == len(v)
                       and all(isinstance(s, int) and not isinstance(s, bool) and s >= 0 for s in v),
                       "a non-empty list of distinct integers >= 0 (B0's seeds; B2's seeds are spread over them)"),
    "other_balances": (lambda v: isinstance(v, list) and all(b in BALANCE_METHODS and b != "none" for b in v),
                       "a list (possibly empty) drawn from " + ", ".join(b for b in BALANCE_METHODS if b != "none")),
    "control_backbones": (lambda v: isinstance(v, list) and all(b in BACKBONES_B for b in v),
                          "a list (possibly empty) drawn from backbones (run on other_seeds only)"),
    "other_seeds": (lambda v: isinstance(v, list) and len(set(v)) == len(v)
                    and all(isinstance(s, int) and not isinstance(s, bool) and s >= 0 for s in v),
                    "a list of distinct integers >= 0 (a subset of seeds)"),
    "weights_dir": (lambda v: isinstance(v, str) and v != "",
                    "'b0' (this profile's B0 weights), 'none', or a folder of <backbone>.safetensors"),
    "scratch_control": (lambda v: isinstance(v, bool), "True or False"),
    "test_per_class": (lambda v: v is None or (_positive_int(v) and v <= 1000),
                       "None (all 1,000) or an integer in 1..1000 (images per class of the official test set)"),
    "lt_test_max": (lambda v: v is None or (_positive_int(v) and v <= 1000),
                    "None (no long-tailed held-out set) or an integer in 1..1000 (its largest class, drawn "
                    "from the official test set in the training data's long-tailed proportions)"),
    "jobs": (_positive_int, "an integer >= 1 (training runs side by side in worker processes; 1 = in the kernel)"),
    "lr_ends": (lambda v: isinstance(v, list) and v and all(_positive_number(x) for x in v),
                "a non-empty list of numbers > 0"),
    "recipe": _choice(RECIPES),
    "label_smoothing": (lambda v: isinstance(v, (int, float)) and not isinstance(v, bool) and 0 <= v < 1,
                        "a number in [0, 1)"),
    "label_smoothings": (lambda v: isinstance(v, list) and v and all(
        isinstance(x, (int, float)) and not isinstance(x, bool) and 0 <= x < 1 for x in v),
        "a non-empty list of numbers in [0, 1)"),
    "warmup_epochs": (lambda v: isinstance(v, int) and not isinstance(v, bool) and v >= 0, "an integer >= 0"),
    "ema_momentum": (lambda v: isinstance(v, (int, float)) and not isinstance(v, bool) and 0 < v < 1,
                     "a number in (0, 1) (the weights' moving-average momentum)"),
    "augment_options": (lambda v: isinstance(v, list) and v and all(isinstance(b, bool) for b in v),
                        "a non-empty list of True/False"),
    # study B speed options (train_torch.TrainConfig)
    "compile": (lambda v: isinstance(v, bool), "True (torch.compile the training step) or False"),
    "predecode": (lambda v: isinstance(v, bool),
                  "True (every image decoded once to uint8 on the device) or False (decoded per step)"),
    "channels_last": (lambda v: v is None or isinstance(v, bool),
                      "None (channels-last on CUDA only), True or False"),
    # study A speed options (train_keras.fit's keyword arguments; train_vmap.fit_seeds' eval_batch_size)
    "steps_per_execution": (lambda v: v == "epoch" or _positive_int(v),
                            "an integer >= 1 or 'epoch' (training steps per compiled call)"),
    "device_data": (lambda v: isinstance(v, bool), "True (the arrays held on the device) or False"),
    "eval_batch_size": (lambda v: v is None or _positive_int(v),
                        "an integer >= 1 or None (the validation pass's batch; None: max(batch_size, 1024))"),
    "dtype_policy": _choice(("float32", "mixed_bfloat16")),
}


def parse_cli_value(text: str):
    """Parse a ``-p name value`` string as a Python literal (never evaluated as code); else a string.

    ``true``/``false`` (the YAML/JSON spelling) are the booleans too, so ``-p fast_path true`` works.
    """
    if text in ("true", "false"):
        return text == "true"
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text


def _type_ok(default, value) -> bool:
    if default is None:
        return True
    if isinstance(default, bool):
        return isinstance(value, bool)
    if isinstance(default, int):
        return isinstance(value, int) and not isinstance(value, bool)
    if isinstance(default, float):
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    return isinstance(value, type(default))


# Parameters whose rule admits values of more than one type (``fast_path``: True, False or 'vmap'): the
# rule alone checks them, not the type of the notebook's default.
MIXED_TYPES = ("fast_path",)


def check_value(name: str, value, default=None, where: str = "") -> None:
    """Raise ParameterError if ``value`` has the wrong type for ``default`` or breaks the rule for ``name``."""
    if name not in MIXED_TYPES and not _type_ok(default, value):
        raise ParameterError(
            f"{where}parameter {name!r} expects {type(default).__name__} (default {default!r}), "
            f"got {type(value).__name__} {value!r}. Fix: pass e.g. -p {name} {default!r}."
        )
    if name in RULES:
        check, valid = RULES[name]
        if not check(value):
            raise ParameterError(f"{where}parameter {name!r} must be {valid}; got {value!r}.")


def check_params(params: dict, where: str = "") -> dict:
    """Apply :data:`RULES` to every name of ``params`` that has a rule (the configurations' check)."""
    for name, value in params.items():
        check_value(name, value, None, where)
    return params


# Parameters renamed since records were first committed: old name -> new name. Never an alias: a
# notebook given the old name stops with an error naming the new one; :func:`upgrade_parameters`
# renames the keys of an old record explicitly (the record converter uses it).
RENAMED = {"lr0": "lr", "lr0s": "lrs"}


def upgrade_parameters(values: dict) -> dict:
    """A copy of ``values`` (an old record's parameters or setting) with renamed keys under their new names."""
    return {RENAMED.get(k, k): v for k, v in values.items()}


def config_values(params: dict, fields, where: str = "") -> dict:
    """The entries of ``params`` that are ``fields`` of a training configuration (``from_params``).

    A parameter given under its old name is refused with the new one (never silently dropped).
    """
    for old, new in RENAMED.items():
        if old in params and new in fields:
            raise ParameterError(f"{where}parameter {old!r} was renamed {new!r}. Fix: pass {new}= instead.")
    return {k: v for k, v in params.items() if k in fields}


def _unknown(name: str, source: str, declared, where: str) -> ParameterError:
    if name in RENAMED and RENAMED[name] in declared:
        return ParameterError(f"{where}parameter {name!r} (from {source}) was renamed {RENAMED[name]!r}. "
                              f"Fix: pass -p {RENAMED[name]} <value> instead.")
    return ParameterError(f"{where}unknown parameter {name!r} (from {source}). "
                          f"This notebook's parameters are: {', '.join(sorted(declared))}.")


# ------------------------------------------------------------------------ combinations -----
# Checks that involve several parameters; each needs only the parameters (never the data). A
# check returns an error message (naming the parameter, the limit and the fix) or None. ``given``
# is the set of names the user set (the runner: -p and the profile; in a notebook and in the
# configurations: the values that differ from the defaults): a parameter the chosen setting would
# ignore is refused only when given.
COMBINATIONS: list[Callable[[dict, set], str | None]] = []

FASHION_MNIST_CLASSES = 10
FASHION_MNIST_TRAIN = 48_000       # the official training set minus the 12,000 validation images
# Study B: the smallest image each backbone accepts (its patch size; smaller images fail inside timm).
# A test builds every backbone at this size and one pixel below.
BACKBONE_MIN_IMAGE = {"beit_base_patch16_224": 16, "swinv2_cr_tiny_ns_224": 4, "deit_base_patch16_224": 16,
                      "vit_base_patch16_224": 16, "beit_micro": 4, "swinv2_micro": 4, "deit_micro": 4,
                      "vit_micro": 4}
MICRO_BACKBONES = tuple(b for b in BACKBONES_B if b.endswith("_micro"))


def combination(check: Callable[[dict, set], str | None]):
    """Register a check of several parameters in :data:`COMBINATIONS`."""
    COMBINATIONS.append(check)
    return check


def _listed(params: dict, one: str, many: str) -> list:
    return [params[one]] if one in params else list(params.get(many) or [])


def study_a_train_images(params: dict) -> int | None:
    """Training images of a study-A run, from its parameters (None when not a study-A notebook)."""
    if "train_size" not in params or "backend" not in params:
        return None
    return FASHION_MNIST_TRAIN if params["train_size"] is None else params["train_size"]


def study_b_train_images(params: dict) -> dict | None:
    """Training images per balancing method of a study-B run on ``fmnist_lt`` (None otherwise).

    Mirrors the data code without reading data: the long-tailed class counts, the 85/15 stratified
    training/validation split (``train_torch.make_splits``; the test set is the official one), then
    ``balance_target`` per class when resampled (other methods: at least the split's images).
    """
    if params.get("dataset") != "fmnist_lt" or "n_max" not in params:
        return None
    from .data import long_tailed_counts

    n = sum(long_tailed_counts(params["n_max"], FASHION_MNIST_CLASSES, params["imbalance_factor"]))
    held_out = max(FASHION_MNIST_CLASSES, int(round(0.15 * n)))  # validation; the test set is the official one
    methods = _listed(params, "balance", "balances") or ["resample"]
    target = params.get("balance_target", "median")
    return {m: (FASHION_MNIST_CLASSES * target if m == "resample" and isinstance(target, int) else n - held_out)
            for m in methods}


def train_size_problem(size: int | None, available: int = FASHION_MNIST_TRAIN) -> str | None:
    """Why a study-A ``train_size`` cannot be drawn from ``available`` training images (None if it can)."""
    if size is None:
        return None
    if size < FASHION_MNIST_CLASSES:
        return (f"parameter 'train_size' is {size}, below the {FASHION_MNIST_CLASSES} classes (a stratified "
                f"subsample needs one image per class). Fix: -p train_size {FASHION_MNIST_CLASSES} or more, "
                f"or None for all {available:,}.")
    if size > available:
        return (f"parameter 'train_size' is {size}, above the {available:,} training images of the split. "
                f"Fix: -p train_size {available} or less, or None for all.")
    return None


@combination
def _train_size_range(params, given):
    return train_size_problem(params["train_size"]) if "backend" in params and "train_size" in params else None


@combination
def _batch_fits_training_set(params, given):
    batches = _listed(params, "batch_size", "batch_sizes")
    n_a = study_a_train_images(params)
    if n_a is not None:
        too_big = [b for b in batches if b > n_a]
        if too_big:
            name = "batch_size" if "batch_size" in params else "batch_sizes"
            return (f"parameter {name!r} holds {max(too_big)}, more than the {n_a} training images "
                    f"(train_size={params['train_size']!r}). Fix: a batch size <= {n_a}, or a larger train_size.")
    n_b = study_b_train_images(params)
    if n_b and "batch_size" in params:
        method, n = min(n_b.items(), key=lambda kv: kv[1])
        if params["batch_size"] > n:
            return (f"parameter 'batch_size' is {params['batch_size']}, more than the {n} training images of "
                    f"this setting (n_max={params['n_max']}, imbalance_factor={params['imbalance_factor']}, "
                    f"balance={method!r}). Fix: -p batch_size {n} or less, or a larger n_max / balance_target.")
    return None


@combination
def _image_fits_backbone(params, given):
    if "image_size" not in params:
        return None
    for b in _listed(params, "backbone", "backbones"):
        need = BACKBONE_MIN_IMAGE.get(b, 1)
        if params["image_size"] < need:
            return (f"parameter 'image_size' is {params['image_size']}, smaller than the {need}-pixel patch "
                    f"of backbone {b!r}. Fix: -p image_size {need} or more (the paper uses 224).")
    return None


@combination
def _pretrained_needs_weights(params, given):
    if not params.get("pretrained"):
        return None
    micro = [b for b in _listed(params, "backbone", "backbones") if b in MICRO_BACKBONES]
    if micro:
        return (f"parameter 'pretrained' is True but backbone {micro[0]!r} is a CPU micro variant without "
                f"pretrained weights. Fix: -p pretrained False, or a paper backbone "
                f"({', '.join(b for b in BACKBONES_B if b not in MICRO_BACKBONES)}).")
    return None


@combination
def _one_source_of_initial_weights(params, given):
    if "weights_dir" not in params:
        return None
    if params["weights_dir"] != "none" and params.get("pretrained"):
        return (f"parameters 'weights_dir'={params['weights_dir']!r} and 'pretrained'=True both choose the initial "
                "weights. Fix: -p weights_dir none to use timm's pretrained weights, or -p pretrained False.")
    if params.get("scratch_control") and params["weights_dir"] == "none" and not params.get("pretrained"):
        return ("parameter 'scratch_control'=True needs pretrained weights ('weights_dir' or 'pretrained'); from "
                "random initialisation every run is from scratch. Fix: -p scratch_control False.")
    return None


@combination
def _dataset_uses_its_parameters(params, given):
    if "dataset" not in params:
        return None
    dataset = params["dataset"]
    for name, datasets in USED_ONLY_WITH_DATASET.items():
        if name in params and dataset not in datasets and (
                name in given or (name == "data_root" and params[name] is not None)):
            return (f"parameter {name!r}={params[name]!r} is ignored with dataset={dataset!r} (it is used only "
                    f"with dataset {' / '.join(map(repr, datasets))}). Fix: drop {name!r}, or choose a dataset "
                    "that uses it.")
    if dataset in USED_ONLY_WITH_DATASET["data_root"] and "data_root" in params and not params["data_root"]:
        return (f"dataset={dataset!r} needs parameter 'data_root' (the folder of the images). "
                "Fix: pass -p data_root <folder>.")
    return None


@combination
def _ignored_by_setting(params, given):
    if "lr_end" in given and params.get("schedule") == "constant":
        return ("parameter 'lr_end' is ignored by schedule='constant' (the rate never decays). "
                "Fix: drop -p lr_end, or choose a decaying schedule.")
    if params.get("schedule") == "constant" and len(params.get("lr_ends") or []) > 1:
        return (f"parameter 'lr_ends' is ignored by schedule='constant' (the rate never decays, so its "
                f"{len(params['lr_ends'])} values give the same runs). Fix: -p lr_ends '[0.0001]', or a "
                "decaying schedule.")
    balances = params.get("balances")
    if "balance_target" in given and balances is not None and "resample" not in balances:
        return (f"parameter 'balance_target' is ignored by balances={balances!r} (only 'resample' uses it). "
                "Fix: drop -p balance_target, or add 'resample' to balances.")
    return None


VMAP_BACKENDS = ("jax",)  # study A's vectorised path (fast_path='vmap', fashionlib.train_vmap)


def fast_path_problem(backend: str, fast_path=True) -> str | None:
    """Why study A's ``fast_path`` (True or 'vmap') cannot run on Keras ``backend`` (None if it can)."""
    if fast_path == "vmap":
        if backend in VMAP_BACKENDS:
            return None
        return (f"parameter 'fast_path' is 'vmap' but backend={backend!r}: the vectorised path (Keras' stateless API "
                "under jax.vmap) runs on the JAX backend only. Fix: -p backend jax, or -p fast_path true/false.")
    if backend in DEVICE_DATA_BACKENDS:
        return None
    return (f"parameter 'fast_path' is True but backend={backend!r} cannot hold the data on the device "
            f"(the fast path's device-resident data works on the {' and '.join(DEVICE_DATA_BACKENDS)} backends "
            "only). Fix: -p backend jax (the GPU fast path), or -p fast_path false.")


@combination
def _fast_path_needs_device_backend(params, given):
    if params.get("fast_path") in (True, "vmap") and "backend" in params:
        return fast_path_problem(params["backend"], params["fast_path"])
    return None


@combination
def _vmap_trains_in_one_process(params, given):
    if params.get("fast_path") == "vmap" and (params.get("jobs") or 1) > 1:
        return (f"parameter 'jobs'={params['jobs']} is ignored with fast_path='vmap' (the seeds of a setting train "
                "together in this process). Fix: -p jobs 1, or fast_path true for worker processes.")
    return None


def check_combinations(params: dict, given=(), where: str = "") -> None:
    """Run every check of :data:`COMBINATIONS`; ``given`` names the parameters the user set explicitly
    (a parameter the setting would ignore is refused only when given)."""
    given = set(given)
    for check in COMBINATIONS:
        message = check(params, given)
        if message:
            raise ParameterError(where + message)


def resolve(notebook: str, declared: dict, profile: str = "cpu", overrides: dict | None = None) -> dict:
    """Merge notebook defaults <- profile <- overrides, validating every value before any work runs.

    ``declared`` maps each parameter name in the notebook's ``parameters`` cell to its default.
    """
    where = f"{notebook}: "
    if profile not in PROFILE_NAMES:
        raise ParameterError(f"{where}unknown profile {profile!r}; choose one of {', '.join(PROFILE_NAMES)}.")
    if notebook in PROFILES and profile not in PROFILES[notebook]:
        raise ParameterError(f"{where}has no {profile!r} profile; it has {', '.join(PROFILES[notebook])}. "
                             + (f"The {profile!r} profile is study B's stand-in ({', '.join(STANDIN_NOTEBOOKS)}). "
                                if profile == "standin" else "") + "Fix: choose one of those with --profile.")
    overrides = dict(overrides or {})
    preset = PROFILES.get(notebook, {}).get(profile, {})
    params = dict(declared)
    for source, values in (("profile " + profile, preset), ("-p", overrides)):
        for name, value in values.items():
            if name not in declared:
                raise _unknown(name, source, declared, where)
            check_value(name, value, declared[name], where)
            params[name] = value
    if "profile" in declared:
        params["profile"] = profile
    for name, value in params.items():
        check_value(name, value, declared[name], where)
    # explicitly given: -p, and the profile's presets unless -p changes what chooses them (a profile's
    # stand-in knobs follow the profile, so they do not count against a dataset or schedule chosen with -p)
    given = set(overrides) | (set() if {"dataset", "schedule", "balances"} & set(overrides) else set(preset))
    check_combinations(params, given, where)
    return params


# ------------------------------------------------------------------- in-notebook check -----
def literal_assignments(source: str) -> dict | None:
    """``{name: value}`` when ``source`` holds only assignments of literals (a parameters cell, or
    papermill's injected one); None for any other cell."""
    try:
        body = ast.parse(source).body
    except SyntaxError:
        return None
    values = {}
    for node in body:
        if not isinstance(node, (ast.Assign, ast.AnnAssign)):
            return None
        target = node.targets[0] if isinstance(node, ast.Assign) else node.target
        if not isinstance(target, ast.Name) or node.value is None:
            return None
        try:
            values[target.id] = ast.literal_eval(node.value)
        except ValueError:
            return None
    return values or None


def parameter_cells(history: list[str]) -> tuple[dict, dict]:
    """(declared defaults, later assignments) from a kernel's input history, the current cell last.

    The parameters cell is the first of the last run of literal-only cells before the current one;
    the cells after it in that run (papermill's injected parameters) are overrides.
    """
    current = history[-1] if history else ""
    cells = [c for c in history[:-1] if c.strip() and c != current]
    while cells and literal_assignments(cells[-1]) is None:
        cells.pop()
    block = []
    while cells and literal_assignments(cells[-1]) is not None:
        block.insert(0, literal_assignments(cells.pop()))
    if not block:
        return {}, {}
    overrides = {}
    for later in block[1:]:
        overrides.update(later)
    return block[0], overrides


def validate(notebook: str, namespace: dict) -> dict:
    """In-notebook check, for runs that bypass the runner (papermill, Jupyter, Colab): the same checks.

    The parameter names and defaults come from the notebook's own ``parameters`` cell, read back from
    the kernel's input history (``In``): that works wherever the cells are run in order, from the
    MyST source or an executed ``.ipynb``, with no file to find (a Colab kernel does not know its
    notebook's path). Names injected by papermill that the cell does not declare are refused, as
    the runner refuses them. Without a history (code run outside IPython) every global with a rule
    in :data:`RULES` is checked. Returns ``{name: value}`` of the declared parameters.
    """
    where = f"{notebook}: "
    declared, injected = parameter_cells(list(namespace.get("In") or []))
    if not declared:
        return check_params({n: v for n, v in namespace.items() if n in RULES}, where)
    for name in injected:
        if name not in declared:
            raise _unknown(name, "the injected parameters", declared, where)
    params = {name: namespace[name] for name in declared}
    for name, value in params.items():
        check_value(name, value, declared[name], where)
    check_combinations(params, {k for k, v in params.items() if v != declared[k]}, where)
    return params
