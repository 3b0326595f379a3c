"""Profiles (smoke / cpu / paper) per notebook, and validation of notebook parameters.

A notebook's ``parameters`` cell holds the defaults (the ``cpu`` profile). A profile overrides some
of them; ``-p name value`` overrides win over the profile. Everything is checked here *before* any
work is done: unknown names, wrong types and out-of-range values raise :class:`ParameterError`.
"""

from __future__ import annotations

import ast
import math

PROFILE_NAMES = ("smoke", "cpu", "paper")

# Choices shared by notebooks and library code (the single list of each).
KERAS_BACKENDS = ("tensorflow", "torch", "jax")
SCHEDULES = ("paper", "constant", "exponential", "inverse_time", "cosine")
KERAS_MODELS = ("improved_cnn", "improved_cnn_strided", "cnn", "lenet5", "lstm", "bilstm")
OPTIMIZERS = ("adam", "rmsprop", "sgd")
DATASETS_B = ("fmnist_lt", "folder", "csv", "fashion_product_images")
# Study B backbones (fashionlib.torch_models.BACKBONES holds their timm specs; a test keeps both equal).
BACKBONES_B = ("beit_base_patch16_224", "swinv2_cr_tiny_ns_224", "deit_base_patch16_224", "vit_base_patch16_224",
               "beit_micro", "swinv2_micro", "deit_micro", "vit_micro")
BALANCE_METHODS = ("none", "resample", "oversample", "class_weights", "logit_adjust")

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
    # Study A (Keras). cpu = the notebook defaults; all four a* notebooks at cpu take about 30 min on 2 cores.
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
        "smoke": {"train_size": 512, "epochs": 1, "batch_size": 64, "seeds": [0], "lr0s": [0.1, 0.01, 0.001],
                  "schedules_to_compare": ["paper", "constant"], "include_sgd": False},
        "cpu": {},
        "paper": {"epochs": 50, "lr_end": 1e-05, "batch_size": 128, "seeds": [0, 1, 2], "train_size": 48000,
                  "lr0s": [0.1, 0.01, 0.001], "include_sgd": True,
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
        "paper": {"epochs": 50, "batch_size": 128, "lr0": 0.001, "lr_end": 1e-05, "schedule": "paper",
                  "optimizer": "adam", "seeds": [0, 1, 2, 3, 4], "train_size": 48000, "save_models": True,
                  "models": ["improved_cnn", "improved_cnn_strided"]},
    },
    # Study B (PyTorch + timm). cpu = the notebook defaults (long-tailed Fashion-MNIST at 32 px, micro
    # backbones, random init); smoke = seconds; paper = 224 px, the real backbones, the paper's epochs (GPU).
    # B0 pretrains the micro backbones on half A of Fashion-MNIST (weights + manifests beside its record).
    # cpu: 300 per class, 3 epochs; paper: the stand-in's full setting (all 3,000 per class), sized for
    # about an hour of the two-hour stand-in budget on 2 CPU cores (not measured yet).
    "b0_pretraining": {
        "smoke": {"per_class": 20, "image_size": 16, "epochs": 1, "backbones": ["deit_micro", "swinv2_micro"]},
        "cpu": {},
        "paper": {"per_class": 3000, "epochs": 5, "torch_threads": 2},
    },
    "b1_apparel_data": {
        "smoke": {"n_max": 60, "imbalance_factor": 10.0, "balance_target": 10, "samples_per_class": 2},
        "cpu": {},
        "paper": {"image_size": 224, "backbone": "beit_base_patch16_224", "balance_target": 500, **PAPER_DATA},
    },
    "b2_backbones": {
        "smoke": {"n_max": 60, "imbalance_factor": 10.0, "balance_target": 10, "image_size": 16, "epochs": 1,
                  "backbones": ["deit_micro", "swinv2_micro"], "batch_size": 32, "seeds": [0, 1], "test_per_class": 20,
                  "balances": ["none", "resample"]},
        "cpu": {},
        "paper": {**PAPER_DATA, "torch_threads": 8, "image_size": 224, "balance_target": 500, "epochs": 30, "batch_size": 32,
                  "backbones": ["beit_base_patch16_224", "swinv2_cr_tiny_ns_224", "deit_base_patch16_224",
                                "vit_base_patch16_224"], "lr": 0.0001, "pretrained": True, "trainable_blocks": 4,
                  "seeds": [0, 1, 2, 3, 4], "weights_dir": "none", "scratch_control": False},
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
}


def check_ignored(params: dict, given=(), where: str = "") -> None:
    """Raise ParameterError for a parameter the chosen ``dataset`` would ignore, naming both.

    ``given`` names the parameters set explicitly (profile preset or ``-p``); ``data_root`` also
    counts as set whenever it is not None. A dataset that needs ``data_root`` and lacks it is an
    error too.
    """
    if "dataset" not in params:
        return
    dataset = params["dataset"]
    for name, datasets in USED_ONLY_WITH_DATASET.items():
        if name in params and dataset not in datasets and (
                name in given or (name == "data_root" and params[name] is not None)):
            raise ParameterError(
                f"{where}parameter {name!r}={params[name]!r} is ignored with dataset={dataset!r} (it is used "
                f"only with dataset {' / '.join(map(repr, datasets))}). Fix: drop {name!r}, or choose a "
                "dataset that uses it.")
    if dataset in USED_ONLY_WITH_DATASET["data_root"] and "data_root" in params and not params["data_root"]:
        raise ParameterError(f"{where}dataset={dataset!r} needs parameter 'data_root' (the folder of the "
                             "images). Fix: pass -p data_root <folder>.")


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
    "lr0": (_positive_number, "a number > 0"),
    "lr": (_positive_number, "a number > 0"),
    "learning_rate": (_positive_number, "a number > 0"),
    "min_lr": (_positive_number, "a number > 0"),
    "lr_end": (_positive_number, "a number > 0 (the rate a decaying schedule reaches at the last step)"),
    "lr0s": (lambda v: isinstance(v, list) and v and all(_positive_number(x) for x in v),
             "a non-empty list of numbers > 0"),
    "weight_decay": (lambda v: isinstance(v, (int, float)) and v >= 0, "a number >= 0"),
    "dropout": (lambda v: isinstance(v, (int, float)) and 0 <= v < 1, "a number in [0, 1)"),
    "imbalance_factor": (lambda v: isinstance(v, (int, float)) and not isinstance(v, bool) and v >= 1,
                         "a number >= 1 (1 means balanced)"),
    "seed": (lambda v: isinstance(v, int) and not isinstance(v, bool) and v >= 0, "an integer >= 0"),
    "seeds": (lambda v: isinstance(v, list) and v and all(isinstance(s, int) and s >= 0 for s in v),
              "a non-empty list of integers >= 0"),
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
    "balance_target": (_positive_int, "an integer >= 1 (images per class after balancing)"),
    "edgenet": (lambda v: isinstance(v, bool), "True or False"),
    "edgenet_options": (lambda v: isinstance(v, list) and v and all(isinstance(b, bool) for b in v),
                        "a non-empty list of True/False"),
    "pretrained": (lambda v: isinstance(v, bool), "True or False"),
    "trainable_blocks": (lambda v: isinstance(v, int) and not isinstance(v, bool) and v >= -1,
                         "-1 (train everything) or an integer >= 0 (last blocks trained)"),
    "n_max": (_positive_int, "an integer >= 1 (images of the largest class)"),
    "epoch_fraction": (lambda v: isinstance(v, (int, float)) and not isinstance(v, bool) and 0 < v <= 1,
                       "a number in (0, 1] (share of the paper's epochs to run)"),
    "rows": (lambda v: isinstance(v, list) and v and all(isinstance(r, int) and 1 <= r <= 4 for r in v),
             "a non-empty list of row numbers 1..4 of the paper's table"),
    "logit_tau": (lambda v: isinstance(v, (int, float)) and not isinstance(v, bool) and v >= 0, "a number >= 0"),
    "torch_threads": (_positive_int, "an integer >= 1 (CPU threads for torch)"),
    "per_class": (lambda v: _positive_int(v) and v <= 3000, "an integer in 1..3000 (images per class from half A)"),
    "weights_dir": (lambda v: isinstance(v, str) and v != "",
                    "'b0' (this profile's B0 weights), 'none', or a folder of <backbone>.safetensors"),
    "scratch_control": (lambda v: isinstance(v, bool), "True or False"),
    "test_per_class": (lambda v: _positive_int(v) and v <= 1000,
                       "an integer in 1..1000 (images per class of the official test set)"),
    "jobs": (_positive_int, "an integer >= 1 (training runs side by side in worker processes; 1 = in the kernel)"),
    "lr_ends": (lambda v: isinstance(v, list) and v and all(_positive_number(x) for x in v),
                "a non-empty list of numbers > 0"),
    "augment_options": (lambda v: isinstance(v, list) and v and all(isinstance(b, bool) for b in v),
                        "a non-empty list of True/False"),
}


def parse_cli_value(text: str):
    """Parse a ``-p name value`` string as a Python literal (never evaluated as code); else a string."""
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


def check_value(name: str, value, default=None, where: str = "") -> None:
    """Raise ParameterError if ``value`` has the wrong type for ``default`` or breaks the rule for ``name``."""
    if not _type_ok(default, value):
        raise ParameterError(
            f"{where}parameter {name!r} expects {type(default).__name__} (default {default!r}), "
            f"got {type(value).__name__} {value!r}. Fix: pass e.g. -p {name} {default!r}."
        )
    if name in RULES:
        check, valid = RULES[name]
        if not check(value):
            raise ParameterError(f"{where}parameter {name!r} must be {valid}; got {value!r}.")


def resolve(notebook: str, declared: dict, profile: str = "cpu", overrides: dict | None = None) -> dict:
    """Merge notebook defaults <- profile <- overrides, validating every value before any work runs.

    ``declared`` maps each parameter name in the notebook's ``parameters`` cell to its default.
    """
    where = f"{notebook}: "
    if profile not in PROFILE_NAMES:
        raise ParameterError(f"{where}unknown profile {profile!r}; choose one of {', '.join(PROFILE_NAMES)}.")
    overrides = dict(overrides or {})
    preset = PROFILES.get(notebook, {}).get(profile, {})
    params = dict(declared)
    for source, values in (("profile " + profile, preset), ("-p", overrides)):
        for name, value in values.items():
            if name not in declared:
                known = ", ".join(sorted(declared))
                raise ParameterError(
                    f"{where}unknown parameter {name!r} (from {source}). "
                    f"This notebook's parameters are: {known}."
                )
            check_value(name, value, declared[name], where)
            params[name] = value
    if "profile" in declared:
        params["profile"] = profile
    for name, value in params.items():
        check_value(name, value, declared[name], where)
    # a profile's stand-in knobs do not count against a dataset chosen with -p (they follow the profile)
    check_ignored(params, set(overrides) | (set() if "dataset" in overrides else set(preset)), where)
    return params


def validate(notebook: str, namespace: dict, names) -> dict:
    """In-notebook check (for users who call papermill directly): validate the named globals."""
    params = {n: namespace[n] for n in names}
    for name, value in params.items():
        if name in RULES:
            check_value(name, value, None, f"{notebook}: ")
    check_ignored(params, (), f"{notebook}: ")
    return params
