"""Study B's offline stand-in: the sets cut from Fashion-MNIST, each an ``apparel.ImageSource``.

The training set is cut once into two fixed halves (:func:`fmnist_halves`): half A feeds B0's
pretraining on four coarse groups (:func:`fmnist_pretraining_set`), half B the long-tailed fine-tuning
sets (:func:`fmnist_long_tailed`) and B0's linear probe (:func:`fmnist_probe_set`). The official test
set is the stand-in's test split (:func:`fmnist_official_test`), with its balanced and long-tailed
held-out sets (:func:`fmnist_test_sets`).
"""

from __future__ import annotations

import numpy as np

from . import data
from .apparel import ImageSource


# The Fashion-MNIST training set is cut once, per class, into two fixed halves: half A is the
# source of B0's pretraining, half B of every long-tailed fine-tuning set. The cut does not depend
# on any run's seed, so no image used for pretraining is ever seen again later.
FMNIST_HALVES_SEED = 20231101


def fmnist_halves(labels) -> tuple[np.ndarray, np.ndarray]:
    """Indices of halves A and B of the Fashion-MNIST training set: disjoint, each half of every class."""
    labels = np.asarray(labels)
    rng = np.random.default_rng(FMNIST_HALVES_SEED)
    a, b = [], []
    for c in np.unique(labels):
        idx = rng.permutation(np.flatnonzero(labels == c))
        a.append(idx[: len(idx) // 2])
        b.append(idx[len(idx) // 2:])
    return np.sort(np.concatenate(a)), np.sort(np.concatenate(b))


# B0's pretraining task: four coarse groups of the ten classes. The groups are what B0 learns; the ten
# fine labels, B2's targets, are never a training target of B0 (ImageNet's classes are not the apparel
# set's 59 either). Trouser and Bag are groups of one class each: the coarse task still separates them.
FMNIST_COARSE_GROUPS = {"tops": (0, 2, 3, 4, 6), "bottoms": (1,), "footwear": (5, 7, 9), "bags": (8,)}


def coarse_labels(fine) -> np.ndarray:
    """Fashion-MNIST's fine labels (0-9) -> coarse group ids (the order of :data:`FMNIST_COARSE_GROUPS`)."""
    lookup = np.full(10, -1, dtype=np.int64)
    for g, members in enumerate(FMNIST_COARSE_GROUPS.values()):
        lookup[list(members)] = g
    return lookup[np.asarray(fine, dtype=np.int64)]


def coarse_pick(coarse, pool, per_group: int, skip: int = 0) -> np.ndarray:
    """Indices (from ``pool``) of ``per_group`` images of every coarse group, after the first ``skip`` of each.

    ``pool`` is taken in a fixed shuffled order (its own seed), so the pick depends on the coarse groups
    only: two label sets that agree on the groups pick the same images.
    """
    coarse, pool = np.asarray(coarse), np.asarray(pool)
    order = pool[np.random.default_rng(FMNIST_HALVES_SEED + 1).permutation(len(pool))]
    picks = []
    for g in range(len(FMNIST_COARSE_GROUPS)):
        members = order[coarse[order] == g]
        if len(members) < skip + per_group:
            raise ValueError(f"coarse group {list(FMNIST_COARSE_GROUPS)[g]!r} has {len(members)} images in half A, "
                             f"fewer than the {skip + per_group} asked for. Fix: a smaller per_group.")
        picks.append(members[skip:skip + per_group])
    return np.sort(np.concatenate(picks))


def fmnist_pretraining_set(per_group: int = 2500, skip: int = 0, path=None) -> ImageSource:
    """B0's source: ``per_group`` images of each coarse group from half A, labelled by group only.

    The fine labels are read once, mapped to the groups (:func:`coarse_labels`) and dropped: the
    source's labels and class names are the four groups. ``skip``: leave out the first ``skip`` of each
    group (B0's held-out check of the coarse task takes the images after its training images). Half A
    holds 3,000 images of each class, so the one-class groups (Trouser, Bag) cap ``skip + per_group``.
    """
    for name, v, low in (("per_group", per_group, 1), ("skip", skip, 0)):
        if not (isinstance(v, int) and not isinstance(v, bool) and v >= low):
            raise ValueError(f"{name} must be an integer >= {low}, got {v!r}.")
    fm = data.load_fashion_mnist(path)
    half_a, _ = fmnist_halves(fm.y_train)
    coarse = coarse_labels(fm.y_train)
    keep = coarse_pick(coarse, half_a, per_group, skip=skip)
    return ImageSource(coarse[keep], list(FMNIST_COARSE_GROUPS), arrays=fm.x_train[keep],
                       name=f"Fashion-MNIST half A, {per_group} per coarse group (B0 pretraining)")


def fmnist_probe_set(per_class: int = 100, path=None) -> ImageSource:
    """B0's linear-probe data: the last ``per_class`` images of every class of half B (balanced, fine labels).

    A diagnostic of the pretrained features on the fine task; B0's training never sees these labels.
    """
    fm = data.load_fashion_mnist(path)
    _, half_b = fmnist_halves(fm.y_train)
    keep = np.sort(np.concatenate([half_b[fm.y_train[half_b] == c][-per_class:] for c in range(10)]))
    return ImageSource(fm.y_train[keep].astype(np.int64), list(data.CLASS_NAMES), arrays=fm.x_train[keep],
                       name=f"Fashion-MNIST half B, {per_class} per class (B0 linear probe)")


def fmnist_long_tailed(imbalance_factor: float = 100.0, n_max: int = 600, seed: int = 0,
                       path=None) -> ImageSource:
    """The offline stand-in: a long-tailed subset of half B of the Fashion-MNIST training images.

    Class ``c`` keeps ``n_max * imbalance_factor ** (-c / 9)`` images (exponential profile as in
    CIFAR-10-LT), so T-shirt/top is the head class and Ankle boot the rarest. Drawn from half B only
    (:func:`fmnist_halves`), so B0's pretraining images never appear here. Seeded: the same seed
    gives the same images on every machine.
    """
    from .rules import check_value

    check_value("imbalance_factor", imbalance_factor)  # before reading any data
    check_value("n_max", n_max)
    fm = data.load_fashion_mnist(path)
    _, half_b = fmnist_halves(fm.y_train)
    idx = half_b[data.long_tailed_indices(fm.y_train[half_b], imbalance_factor, seed=seed, n_max=n_max)]
    return ImageSource(fm.y_train[idx].astype(np.int64), list(data.CLASS_NAMES), arrays=fm.x_train[idx],
                       name=f"Fashion-MNIST long-tailed (imbalance {imbalance_factor:g}, n_max {n_max})")


def fmnist_test_sets(test_labels, balanced_per_class: int | None, lt_max: int | None,
                     imbalance_factor: float) -> dict[str, np.ndarray]:
    """The stand-in's two held-out sets, as indices into the official test set.

    ``balanced``: the first ``balanced_per_class`` images of every class (None: all 1,000).
    ``long_tailed`` (when ``lt_max`` is set): the first ``n_c`` images of class ``c``, with ``n_c`` the
    training data's long-tailed profile scaled to ``lt_max`` images in the largest class
    (:func:`data.long_tailed_counts`, at least one image per class): accuracy on it weighs the classes
    as the training data's class mix does, as a validation split of a long-tailed data set would.
    The same images for every run and seed.
    """
    labels = np.asarray(test_labels)
    per_class = [np.flatnonzero(labels == c) for c in range(int(labels.max()) + 1)]
    sets = {"balanced": np.sort(np.concatenate([ix[:balanced_per_class] for ix in per_class]))}
    if lt_max is not None:
        counts = data.long_tailed_counts(lt_max, len(per_class), imbalance_factor)
        sets["long_tailed"] = np.sort(np.concatenate([ix[:n] for ix, n in zip(per_class, counts)]))
    return sets


def fmnist_official_test(path=None) -> ImageSource:
    """The official Fashion-MNIST test set (10,000 images, 1,000 per class): the stand-in's test split."""
    fm = data.load_fashion_mnist(path)
    return ImageSource(fm.y_test.astype(np.int64), list(data.CLASS_NAMES), arrays=fm.x_test,
                       name="Fashion-MNIST official test set")

