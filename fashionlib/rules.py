"""The parameter rules: what a valid value of each notebook parameter is, and their checking.

:data:`RULES` is the one place a parameter's range or choice is checked: the runner
(``book.resolve``), the in-notebook check (``parameters_cell.validate``) and the training
configurations (``train_keras.FitConfig``, ``train_torch.TrainConfig``) all apply it; unknown names,
wrong types and out-of-range values raise :class:`ParameterError` before any work is done. Checks
that involve several parameters are in :mod:`fashionlib.combinations`.
"""

from __future__ import annotations

import ast
import math

from .choices import (BACKBONES_B, BALANCE_METHODS, DATASETS_B, KERAS_BACKENDS, KERAS_MODELS, OPTIMIZERS,
                      PROFILE_NAMES, RECIPES, SCHEDULES, VALIDATION_MODES)


class ParameterError(ValueError):
    """A notebook parameter is unknown, of the wrong type, or out of range."""


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


def unknown_parameter(name: str, source: str, declared, where: str) -> ParameterError:
    """The error for a parameter ``name`` (from ``source``) that the notebook does not declare; an old
    name of :data:`RENAMED` is answered with its new one."""
    if name in RENAMED and RENAMED[name] in declared:
        return ParameterError(f"{where}parameter {name!r} (from {source}) was renamed {RENAMED[name]!r}. "
                              f"Fix: pass -p {RENAMED[name]} <value> instead.")
    return ParameterError(f"{where}unknown parameter {name!r} (from {source}). "
                          f"This notebook's parameters are: {', '.join(sorted(declared))}.")
