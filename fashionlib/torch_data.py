"""Study B's data for one run: the source, its split and balancing (:func:`make_splits`), and the datasets.

:class:`Splits` holds the indices of the training (balanced), validation and test entries of an
``apparel.ImageSource`` (the stand-in: a separate official test set and its held-out sets);
:func:`make_datasets` turns them into ``torch_images.TorchImageDataset``\\ s at the backbone's size and
normalisation, and :class:`DeviceBatches` is the loader of the pre-decoded path.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from . import apparel, balance, fmnist_standin, torch_images
from .torch_config import TrainConfig


@dataclass
class Splits:
    source: apparel.ImageSource
    train_idx: np.ndarray       # indices into source (after balancing: with repeats)
    train_augment: np.ndarray   # which training entries are augmented copies
    train_idx_original: np.ndarray
    val_idx: np.ndarray
    test_idx: np.ndarray
    class_names: list[str] = field(default_factory=list)
    test_source: apparel.ImageSource | None = None  # a separate test set (the stand-in's official one)
    test_sets: dict = field(default_factory=dict)  # name -> positions in test_idx (the stand-in's balanced/long-tailed sets)
    eval_cache: dict = field(default_factory=dict, repr=False)  # validation/test datasets, reused across runs

    @property
    def test_labels(self) -> np.ndarray:
        return (self.test_source or self.source).labels[self.test_idx]


def load_source(cfg: TrainConfig) -> apparel.ImageSource:
    if cfg.dataset == "fmnist_lt":
        return fmnist_standin.fmnist_long_tailed(cfg.imbalance_factor, n_max=cfg.n_max, seed=cfg.seed)
    if cfg.dataset == "folder":
        return apparel.load_folder(_required(cfg, "data_root"), min_images_per_class=cfg.min_images_per_class)
    if cfg.dataset == "csv":
        return apparel.load_csv(_required(cfg, "csv_path"), cfg.path_column, cfg.label_column,
                                image_root=cfg.data_root, min_images_per_class=cfg.min_images_per_class)
    return apparel.load_fashion_product_images(_required(cfg, "data_root"),
                                               min_images_per_class=cfg.min_images_per_class)


def _required(cfg, name):
    if not getattr(cfg, name):
        raise ValueError(f"dataset={cfg.dataset!r} needs {name}= (a path).")
    return getattr(cfg, name)


def make_splits(cfg: TrainConfig, source: apparel.ImageSource | None = None) -> Splits:
    """Split, then balance the training split only (validation and test stay as drawn).

    The stand-in (``fmnist_lt``) is tested on the official Fashion-MNIST test set: its long-tailed set is
    split into training and validation only (``test_size`` does not apply). Its test split is the union of
    two held-out sets (:func:`fmnist_standin.fmnist_test_sets`): ``balanced`` (``test_per_class`` per class) and,
    with ``lt_test_max``, ``long_tailed`` (the training data's class mix); ``Splits.test_sets`` holds each
    set's positions in ``test_idx``, and the model predicts every image once.
    """
    source = source if source is not None else load_source(cfg)
    test_source = fmnist_standin.fmnist_official_test() if cfg.dataset == "fmnist_lt" else None
    tr, va, te = apparel.split_indices(source.labels, cfg.val_size, 0.0 if test_source else cfg.test_size,
                                       seed=cfg.seed, class_names=source.class_names, small_classes=cfg.small_classes)
    test_sets = {}
    if test_source is not None:  # the same images for every seed and run
        sets = fmnist_standin.fmnist_test_sets(test_source.labels, cfg.test_per_class, cfg.lt_test_max, cfg.imbalance_factor)
        te = np.unique(np.concatenate(list(sets.values())))
        test_sets = {k: np.searchsorted(te, v) for k, v in sets.items()}
    if cfg.balance in ("resample", "oversample"):  # oversample: every class up to the largest, no image dropped
        target = "max" if cfg.balance == "oversample" else cfg.balance_target
        pos, copies = balance.balance_indices(source.labels[tr], target, seed=cfg.seed)
        train_idx, augment = tr[pos], copies
    else:
        train_idx, augment = tr, np.zeros(len(tr), bool)
    return Splits(source, train_idx, augment, tr, va, te, list(source.class_names), test_source, test_sets)


def make_datasets(cfg: TrainConfig, splits: Splits, model) -> tuple:
    dc = torch_images.data_config(model, cfg.image_size)
    common = dict(image_size=cfg.image_size, mean=dc["mean"], std=dc["std"], seed=cfg.seed,
                  interpolation=dc.get("interpolation", "bilinear"))
    train = torch_images.TorchImageDataset(splits.source, splits.train_idx, augment=splits.train_augment,
                                      augmentation=balance.augmentation(cfg.image_size), **common)
    key = (cfg.image_size, tuple(dc["mean"]), tuple(dc["std"]), common["interpolation"])
    if key not in splits.eval_cache:  # resized once per split and size: a grid reuses them in every run
        splits.eval_cache[key] = (torch_images.TorchImageDataset(splits.source, splits.val_idx, **common),
                                  torch_images.TorchImageDataset(splits.test_source or splits.source, splits.test_idx, **common))
    val, test = splits.eval_cache[key]
    return train, val, test


class DeviceBatches:
    """A loader over a pre-decoded :class:`torch_images.TorchImageDataset`: batches built on the device.

    Batches hold the same entries in the same order as a ``DataLoader(ds, batch_size, sampler=sampler)``
    (no sampler: in order), so the pre-decoded path trains on the same data as the default one.
    """

    def __init__(self, ds, batch_size: int, sampler=None):
        self.ds, self.batch_size, self.sampler = ds, batch_size, sampler

    def __len__(self) -> int:
        n = len(self.sampler) if self.sampler is not None else len(self.ds)
        return -(-n // self.batch_size)

    def __iter__(self):
        torch.empty((), dtype=torch.int64).random_()  # the draw a DataLoader iterator makes: same dropout RNG after
        order = np.fromiter(self.sampler, dtype=np.int64) if self.sampler is not None else np.arange(len(self.ds))
        for start in range(0, len(order), self.batch_size):
            yield self.ds.batch(order[start:start + self.batch_size])

