"""Balancing: exact per-class counts, copies marked, validation and test untouched, loss options."""

import numpy as np
import pytest
import torch

from fashionlib import balance
from fashionlib.train_torch import TrainConfig, make_splits


def test_balance_hits_the_requested_counts():
    labels = np.repeat(np.arange(4), [50, 20, 7, 2])
    idx, copies = balance.balance_indices(labels, target=10, seed=0)
    assert np.bincount(labels[idx]).tolist() == [10, 10, 10, 10]
    # undersampled classes: distinct originals; oversampled classes: all originals + marked copies
    for c, n in enumerate([50, 20, 7, 2]):
        sel = idx[labels[idx] == c]
        assert len(set(sel)) == min(n, 10)
        assert copies[labels[idx] == c].sum() == max(0, 10 - n)


@pytest.mark.parametrize("target,expected", [("median", 14), ("max", 50), ("min", 2), (5, 5)])
def test_balance_targets(target, expected):
    labels = np.repeat(np.arange(4), [50, 20, 7, 2])
    idx, _ = balance.balance_indices(labels, target=target, seed=1)
    assert set(np.bincount(labels[idx]).tolist()) == {expected}


def test_balance_is_seeded():
    labels = np.repeat(np.arange(3), [30, 10, 3])
    a, _ = balance.balance_indices(labels, 8, seed=0)
    b, _ = balance.balance_indices(labels, 8, seed=0)
    c, _ = balance.balance_indices(labels, 8, seed=1)
    assert np.array_equal(a, b) and not np.array_equal(a, c)


def test_bad_target():
    with pytest.raises(ValueError, match="balance target"):
        balance.balance_indices(np.array([0, 1, 1]), target="most")
    with pytest.raises(ValueError, match="balance target"):
        balance.balance_indices(np.array([0, 1, 1]), target=0)


def test_balancing_never_changes_validation_or_test(fmnist_dir):
    base = dict(dataset="fmnist_lt", imbalance_factor=20.0, n_max=120, seed=0)
    plain = make_splits(TrainConfig(balance="none", **base))
    bal = make_splits(TrainConfig(balance="resample", balance_target=30, **base))
    assert np.array_equal(plain.val_idx, bal.val_idx) and np.array_equal(plain.test_idx, bal.test_idx)
    assert np.array_equal(plain.train_idx_original, bal.train_idx_original)
    assert set(bal.train_idx) <= set(plain.train_idx)  # only training images, repeated or dropped
    assert not set(bal.train_idx) & set(bal.val_idx)
    assert bal.test_source is not None and bal.test_source is not bal.source  # the official test set
    assert set(np.bincount(bal.source.labels[bal.train_idx]).tolist()) == {30}


def test_long_tailed_profile_requested(fmnist_dir):
    from fashionlib import data, fmnist_standin

    src = fmnist_standin.fmnist_long_tailed(100, n_max=500, seed=0)
    assert np.bincount(src.labels).tolist() == data.long_tailed_counts(500, 10, 100)
    assert np.bincount(src.labels)[0] / np.bincount(src.labels)[-1] == pytest.approx(100)


def test_class_weights_and_logit_adjustment():
    labels = np.repeat([0, 1], [30, 10])
    w = balance.class_weights(labels, 3)
    assert w.tolist() == pytest.approx([40 / 60, 40 / 20, 0.0])
    adj = balance.logit_adjustment(labels, 2, tau=1.0)
    assert torch.allclose(adj, torch.log(torch.tensor([0.75, 0.25])))


def test_augmentation_changes_copies_only_and_is_seeded(fmnist_dir):
    from fashionlib import fmnist_standin, torch_images

    src = fmnist_standin.fmnist_long_tailed(10, n_max=20, seed=0)
    ds = torch_images.TorchImageDataset(src, [0, 0], image_size=28, mean=(0,) * 3, std=(1,) * 3,
                                   augment=[False, True], augmentation=balance.augmentation(28), seed=0)
    a0, a1 = ds[0][0], ds[1][0]
    assert torch.allclose(a0, torch.from_numpy(src.image(0)).permute(2, 0, 1).float() / 255)
    assert not torch.equal(a0, a1)
    assert torch.equal(a1, ds[1][0])  # same (seed, epoch, entry) -> same augmentation
    ds.set_epoch(1)
    assert not torch.equal(a1, ds[1][0])


def test_oversample_keeps_every_training_image(fmnist_dir):
    base = dict(dataset="fmnist_lt", imbalance_factor=20.0, n_max=120, seed=0)
    over = make_splits(TrainConfig(balance="oversample", **base))
    assert set(over.train_idx) == set(over.train_idx_original)  # nothing dropped
    counts = np.bincount(over.source.labels[over.train_idx])
    assert set(counts.tolist()) == {np.bincount(over.source.labels[over.train_idx_original]).max()}
    assert over.train_augment.sum() == len(over.train_idx) - len(over.train_idx_original)


def test_shot_groups_and_accuracy():
    counts = [500, 150, 100, 50, 20, 19, 3]
    assert balance.shot_groups(counts).tolist() == ["many", "many", "medium", "medium", "medium", "few", "few"]
    y_true = np.array([0, 0, 3, 3, 6, 6])
    y_pred = np.array([0, 1, 3, 3, 6, 0])
    acc = balance.shot_accuracy(y_true, y_pred, counts)
    assert acc == {"many_shot_accuracy": 50.0, "medium_shot_accuracy": 100.0, "few_shot_accuracy": 50.0}
    assert np.isnan(balance.shot_accuracy([0], [0], [500])["few_shot_accuracy"])


def test_stand_in_is_tested_on_the_official_balanced_test_set(fmnist_dir, fmnist):
    sp = make_splits(TrainConfig(dataset="fmnist_lt", imbalance_factor=100.0, n_max=300, balance="none", seed=1))
    assert np.bincount(sp.test_labels).tolist() == [1000] * 10
    assert np.array_equal(sp.test_source.arrays, fmnist.x_test)
    assert len(sp.train_idx_original) + len(sp.val_idx) == len(sp.source)  # the long-tailed set: train + val only


def test_official_test_subset_is_balanced_and_fixed(fmnist_dir):
    a = make_splits(TrainConfig(dataset="fmnist_lt", n_max=300, balance="none", seed=0, test_per_class=30))
    b = make_splits(TrainConfig(dataset="fmnist_lt", n_max=300, balance="none", seed=1, test_per_class=30))
    assert np.bincount(a.test_labels).tolist() == [30] * 10
    assert np.array_equal(a.test_idx, b.test_idx)


def test_long_tailed_held_out_set_has_the_training_mix_and_is_scored_apart(fmnist_dir):
    """The stand-in's two held-out sets: the long-tailed one follows the training data's profile (the claim
    metric), the balanced one has test_per_class of each class; as_run scores each on its own images."""
    from fashionlib import data
    from fashionlib.train_torch import as_run

    cfg = TrainConfig(dataset="fmnist_lt", imbalance_factor=100.0, n_max=300, balance="none", seed=0,
                      test_per_class=30, lt_test_max=400)
    sp = make_splits(cfg)
    lt, bal = (sp.test_labels[sp.test_sets[k]] for k in ("long_tailed", "balanced"))
    assert np.bincount(lt, minlength=10).tolist() == data.long_tailed_counts(400, 10, 100.0)
    assert np.bincount(bal, minlength=10).tolist() == [30] * 10
    assert len(sp.test_idx) == len(np.unique(sp.test_idx)) < len(lt) + len(bal)  # the union, each image once
    # a model that predicts the head class everywhere: right on 400 of the long-tailed set, 30 of the balanced one
    y_true = sp.test_labels.tolist()
    result = {"history": [{"val_acc": 0.0, "val_f1": 0.0, "val_loss": 0.0, "train_acc": 0.0, "train_loss": 0.0}],
              "test": {"y_true": y_true, "y_pred": [0] * len(y_true), "loss": 0.0, "acc": 0.0, "balanced_acc": 0.0,
                       "f1": 0.0}, "test_sets": {k: v.tolist() for k, v in sp.test_sets.items()},
              "counts": {"train_before": [300] * 10}, "class_names": list(data.CLASS_NAMES), "config": {"seed": 0}}
    m = as_run(result, {})["metrics"]
    assert m["lt_accuracy"] == pytest.approx(100.0 * 400 / len(lt))
    assert m["accuracy"] == m["balanced_accuracy"] == pytest.approx(10.0)
    assert m["recall_0"] == 100.0 and m["recall_9"] == 0.0
