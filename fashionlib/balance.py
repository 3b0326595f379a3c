"""Balancing the *training* split only: the paper's over/under-sampling, plus class weights and logit adjustment.

The paper: "data augmentation (oversampling) and random sampling (undersampling) are applied to
balance it." We read this as (see the book's cell ``(b-balance)``): every class is brought to one
per-class ``target``: classes above it are randomly undersampled (imbalanced-learn's
``RandomUnderSampler``), classes below it are randomly oversampled (``RandomOverSampler``) and every
*extra copy* is marked for a random augmentation (torchvision transforms), so the copies are not
pixel-identical. The default target is the median class count.

Functions here take training labels and return training indices; validation and test sets never
pass through them.

Beyond the paper (options for comparison): oversampling only (``balance="oversample"``: every
class copied up to the largest, so no image is dropped and the comparison with "none" is not
confounded with a loss of data), a class-weighted loss (``class_weights``) and logit
adjustment (Menon et al. 2021, "Long-tail learning via logit adjustment", the logit-adjusted loss:
add ``tau * log(prior)`` to the logits during training only).
"""

from __future__ import annotations

import numpy as np

from .choices import BALANCE_METHODS  # noqa: E402  (the single list)


def resolve_target(counts, target) -> int:
    """``target`` as an int: an int, or 'median' / 'mean' / 'max' / 'min' of the class counts."""
    counts = np.asarray(counts)
    if isinstance(target, (int, np.integer)) and not isinstance(target, bool):
        if target < 1:
            raise ValueError(f"balance target must be >= 1, got {target}.")
        return int(target)
    funcs = {"median": np.median, "mean": np.mean, "max": np.max, "min": np.min}
    if target is None:
        target = "median"
    if target not in funcs:
        raise ValueError(f"balance target must be an integer >= 1 or one of {', '.join(funcs)}, got {target!r}.")
    return max(1, int(round(float(funcs[target](counts[counts > 0])))))


def balance_indices(labels, target="median", seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Indices (into ``labels``) of a balanced training set, and a mask of the augmented copies.

    Every class present ends with exactly ``target`` entries. Originals come first within a class;
    an index repeated is a copy (``is_copy`` True) and gets augmented when loaded.
    """
    from imblearn.over_sampling import RandomOverSampler
    from imblearn.under_sampling import RandomUnderSampler

    labels = np.asarray(labels)
    classes, counts = np.unique(labels, return_counts=True)
    t = resolve_target(counts, target)
    idx = np.arange(len(labels)).reshape(-1, 1)
    y = labels
    over = {int(c): t for c, n in zip(classes, counts) if n > t}
    if over:
        idx, y = RandomUnderSampler(sampling_strategy=over, random_state=seed).fit_resample(idx, y)
    under = {int(c): t for c, n in zip(classes, counts) if n < t}
    if under:
        idx, y = RandomOverSampler(sampling_strategy=under, random_state=seed).fit_resample(idx, y)
    idx = idx.ravel()
    order = np.argsort(y, kind="stable")  # group by class, originals before the appended copies
    idx = idx[order]
    seen: set[int] = set()
    is_copy = np.zeros(len(idx), bool)
    for k, i in enumerate(idx):
        if i in seen:
            is_copy[k] = True
        seen.add(int(i))
    return idx, is_copy


def augmentation(image_size: int):
    """Augmentation for oversampled copies (torchvision v2, on float tensors (3, S, S) in [0, 1])."""
    from torchvision.transforms import v2

    return v2.Compose([
        v2.RandomHorizontalFlip(),
        v2.RandomAffine(degrees=10, translate=(0.06, 0.06), scale=(0.9, 1.1)),
        v2.ColorJitter(brightness=0.2, contrast=0.2),
    ])


def class_weights(labels, num_classes: int) -> np.ndarray:
    """'Balanced' class weights n / (C * n_c) (scikit-learn); classes absent from ``labels`` get 0."""
    from sklearn.utils.class_weight import compute_class_weight

    labels = np.asarray(labels)
    present = np.unique(labels)
    w = np.zeros(num_classes)
    w[present] = compute_class_weight("balanced", classes=present, y=labels)
    return w


def class_priors(labels, num_classes: int) -> np.ndarray:
    counts = np.bincount(np.asarray(labels), minlength=num_classes).astype(np.float64)
    return counts / counts.sum()


def logit_adjustment(labels, num_classes: int, tau: float = 1.0):
    """The additive offset ``tau * log(prior)`` (a float tensor) for the logit-adjusted loss."""
    import torch

    priors = np.clip(class_priors(labels, num_classes), 1e-12, None)
    return torch.tensor(tau * np.log(priors), dtype=torch.float32)


def counts_before_after(labels, balanced_idx, class_names) -> "pd.DataFrame":  # noqa: F821
    """Images per class before and after balancing (and how many of the 'after' are augmented copies)."""
    import pandas as pd

    labels = np.asarray(labels)
    before = np.bincount(labels, minlength=len(class_names))
    after = np.bincount(labels[balanced_idx], minlength=len(class_names))
    return pd.DataFrame({"class": class_names, "before": before, "after": after})


# Shot groups as in the long-tail literature (Liu et al. 2019, "Large-scale long-tailed recognition
# in an open world"): a class is many-shot with more than 100 training images, few-shot with fewer
# than 20, medium-shot in between. Counted on the training split *before* balancing.
SHOT_THRESHOLDS = {"many": 100, "few": 20}


def shot_groups(train_counts, many: int = SHOT_THRESHOLDS["many"], few: int = SHOT_THRESHOLDS["few"]) -> np.ndarray:
    """'many' / 'medium' / 'few' for each class from its training count (before balancing)."""
    c = np.asarray(train_counts)
    return np.where(c > many, "many", np.where(c < few, "few", "medium"))


def shot_accuracy(y_true, y_pred, train_counts, **thresholds) -> dict:
    """Accuracy in percent on the test images of many-, medium- and few-shot classes (NaN: no such class)."""
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    groups = shot_groups(train_counts, **thresholds)[y_true]
    return {f"{g}_shot_accuracy": (100.0 * float((y_pred[groups == g] == y_true[groups == g]).mean())
                                   if (groups == g).any() else float("nan"))
            for g in ("many", "medium", "few")}
