"""The checks that involve several parameters: each needs only the parameters (never the data).

A check of :data:`COMBINATIONS` (registered with :func:`combination`) returns an error message (naming
the parameter, the limit and the fix) or None: a batch larger than the training set, an image smaller
than the backbone's patch, a parameter the chosen setting would ignore. The runner, the in-notebook
check and the training configurations run them all with :func:`check_combinations`, before any work.
"""

from __future__ import annotations

from typing import Callable

from .choices import BACKBONES, DEVICE_DATA_BACKENDS, MICRO_BACKBONES, PAPER_BACKBONES, VMAP_BACKENDS
from .data import NUM_CLASSES, SPLIT_TRAIN_IMAGES, long_tailed_counts, train_size_problem
from .rules import ParameterError

# Study B: a parameter that only means something for some datasets -> the datasets it serves.
# Setting it for another dataset would be silently ignored, so that is an error.
USED_ONLY_WITH_DATASET = {
    "data_root": ("folder", "csv", "fashion_product_images"),
    "imbalance_factor": ("fmnist_lt",),
    "n_max": ("fmnist_lt",),
    "test_per_class": ("fmnist_lt",),
    "lt_test_max": ("fmnist_lt",),
}


# check(params, given) -> message or None. ``given`` is the set of names the user set (the runner: -p and the profile; in a notebook and in the
# configurations: the values that differ from the defaults): a parameter the chosen setting would
# ignore is refused only when given.
COMBINATIONS: list[Callable[[dict, set], str | None]] = []


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
    return SPLIT_TRAIN_IMAGES if params["train_size"] is None else params["train_size"]


def study_b_train_images(params: dict) -> dict | None:
    """Training images per balancing method of a study-B run on ``fmnist_lt`` (None otherwise).

    Mirrors the data code without reading data: the long-tailed class counts, the 85/15 stratified
    training/validation split (``torch_data.make_splits``; the test set is the official one), then
    ``balance_target`` per class when resampled (other methods: at least the split's images).
    """
    if params.get("dataset") != "fmnist_lt" or "n_max" not in params:
        return None
    n = sum(long_tailed_counts(params["n_max"], NUM_CLASSES, params["imbalance_factor"]))
    held_out = max(NUM_CLASSES, int(round(0.15 * n)))  # validation; the test set is the official one
    methods = _listed(params, "balance", "balances") or ["resample"]
    target = params.get("balance_target", "median")
    return {m: (NUM_CLASSES * target if m == "resample" and isinstance(target, int) else n - held_out)
            for m in methods}


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
        need = BACKBONES[b]["min_image"] if b in BACKBONES else 1
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
                f"({', '.join(PAPER_BACKBONES)}).")
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
