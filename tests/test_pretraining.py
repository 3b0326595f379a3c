"""B0: disjoint pretraining / fine-tuning halves, and weights saved with a manifest that is checked."""

import dataclasses

import numpy as np
import pytest
import torch

from fashionlib import data, files, fmnist_standin, results
from fashionlib import torch_models as tm
from fashionlib.torch_evaluation import linear_probe

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def test_halves_are_disjoint_balanced_and_fixed(fmnist):
    a, b = fmnist_standin.fmnist_halves(fmnist.y_train)
    assert not set(a) & set(b) and len(a) + len(b) == len(fmnist.y_train)
    assert np.bincount(fmnist.y_train[a]).tolist() == [3000] * 10
    a2, _ = fmnist_standin.fmnist_halves(fmnist.y_train)
    assert np.array_equal(a, a2)


def _rows(arrays):
    return {bytes(x) for x in arrays.reshape(len(arrays), -1)}


def test_pretraining_images_never_reach_fine_tuning(fmnist_dir):
    pre = fmnist_standin.fmnist_pretraining_set(300)
    held = fmnist_standin.fmnist_pretraining_set(50, skip=300)
    assert np.bincount(pre.labels).tolist() == [300] * 4 and pre.class_names == list(fmnist_standin.FMNIST_COARSE_GROUPS)
    assert not _rows(pre.arrays) & _rows(held.arrays)
    for seed in (0, 1):
        lt = fmnist_standin.fmnist_long_tailed(10, n_max=600, seed=seed)
        assert not _rows(pre.arrays) & _rows(lt.arrays)
    fm = data.load_fashion_mnist()
    assert not _rows(pre.arrays) & _rows(fm.x_test)


def test_pretraining_never_reads_the_fine_labels(fmnist_dir, monkeypatch):
    """B0's source is the same when the fine labels are shuffled within each coarse group: its images and
    labels depend on the groups only (the split into halves A and B, fixed once, is held fixed here)."""
    fm = data.load_fashion_mnist()
    halves = fmnist_standin.fmnist_halves(fm.y_train)
    before = fmnist_standin.fmnist_pretraining_set(200), fmnist_standin.fmnist_pretraining_set(50, skip=200)
    rng = np.random.default_rng(0)
    shuffled = fm.y_train.copy()
    for members in fmnist_standin.FMNIST_COARSE_GROUPS.values():
        idx = np.flatnonzero(np.isin(fm.y_train, members))
        shuffled[idx] = rng.permutation(fm.y_train[idx])
    assert (shuffled != fm.y_train).mean() > 0.3  # the fine labels really changed
    monkeypatch.setattr(data, "load_fashion_mnist", lambda path=None: dataclasses.replace(fm, y_train=shuffled))
    monkeypatch.setattr(fmnist_standin, "fmnist_halves", lambda labels: halves)
    after = fmnist_standin.fmnist_pretraining_set(200), fmnist_standin.fmnist_pretraining_set(50, skip=200)
    for b, a in zip(before, after):
        assert np.array_equal(b.arrays, a.arrays) and np.array_equal(b.labels, a.labels)
        assert b.class_names == a.class_names == list(fmnist_standin.FMNIST_COARSE_GROUPS)


def test_coarse_groups_cover_the_ten_classes_once():
    members = sorted(c for m in fmnist_standin.FMNIST_COARSE_GROUPS.values() for c in m)
    assert members == list(range(10))
    assert fmnist_standin.coarse_labels([0, 1, 5, 8, 9]).tolist() == [0, 1, 2, 3, 2]


def test_bad_sizes(fmnist_dir):
    with pytest.raises(ValueError, match="coarse group 'bottoms'"):
        fmnist_standin.fmnist_pretraining_set(2900, skip=200)
    with pytest.raises(ValueError, match="per_group"):
        fmnist_standin.fmnist_pretraining_set(0)
    with pytest.raises(ValueError, match="n_max"):
        fmnist_standin.fmnist_long_tailed(10, n_max=5000)


def test_linear_probe_reads_features_better_than_chance(fmnist_dir):
    torch.manual_seed(0)
    model = tm.build_model("swinv2_micro", 4, image_size=16, edgenet=False)
    acc = linear_probe(model, fmnist_standin.fmnist_probe_set(20), image_size=16)
    assert 10.0 < acc <= 100.0  # random features already beat chance on Fashion-MNIST


def test_saved_weights_verify_and_load_exactly(tmp_path):
    torch.manual_seed(3)
    src = tm.create_backbone("vit_micro", image_size=16)
    path = tm.save_backbone_weights(src, tmp_path / "vit_micro.safetensors", name="vit_micro", recipe={"epochs": 1})
    manifest = tm.verify_weights(path)
    assert manifest["backbone"] == "vit_micro" and manifest["recipe"] == {"epochs": 1} and len(manifest["sha256"]) == 64
    assert tm.annotate_manifest(path, record="r.json")["record"] == "r.json"
    model = tm.build_model("vit_micro", 10, image_size=16, weights_file=path, trainable_blocks=2)
    assert all(torch.equal(model.backbone.state_dict()[k], v) for k, v in src.state_dict().items())


def test_changed_weights_file_fails_its_manifest(tmp_path):
    src = tm.create_backbone("deit_micro", image_size=16)
    path = tm.save_backbone_weights(src, tmp_path / "w.safetensors", name="deit_micro", recipe={})
    raw = bytearray(path.read_bytes())
    raw[-1] ^= 0xFF
    path.write_bytes(bytes(raw))
    with pytest.raises(tm.WeightsError, match="does not match its manifest"):
        tm.verify_weights(path)
    (tmp_path / "w.manifest").unlink()
    with pytest.raises(tm.WeightsError, match="no manifest"):
        tm.verify_weights(path)
    with pytest.raises(tm.WeightsNotFoundError, match="B0"):
        tm.verify_weights(tmp_path / "absent.safetensors")


STANDIN_B0 = files.REPO_ROOT / "book" / "results" / "standin" / "b0_pretraining"


def _standin_files():
    return sorted(p.name for p in STANDIN_B0.glob("*.safetensors"))


def test_committed_standin_weights_cover_every_backbone_and_seed():
    """B0's standin record names one weights file per backbone and pretraining seed, and each is committed."""
    record = results.load_records("b0_pretraining", "standin", results_dir_=STANDIN_B0.parent.parent)[-1]
    params = record["provenance"]["parameters"]
    assert len(params["seeds"]) >= 2
    assert _standin_files() == sorted(tm.weights_name(b, s) for b in params["backbones"] for s in params["seeds"])
    assert all(r["metrics"]["probe_accuracy"] > 10.0 for r in record["runs"])  # a diagnostic, recorded


@pytest.mark.parametrize("file", _standin_files())
def test_committed_standin_weights_verify_and_load_through_weights_file(file):
    """B0's committed standin weights match their manifests, name the committed record, and load exactly
    through the ``weights_file`` path B2 (and a user with weights of their own) takes."""
    path = STANDIN_B0 / file
    manifest = tm.verify_weights(path)  # raises when the file is absent or changed
    name = manifest["backbone"]
    assert file == tm.weights_name(name, manifest["recipe"]["seed"])
    assert manifest["record"] in {p.name for p in STANDIN_B0.glob("*.json")}
    record = results.load_records("b0_pretraining", "standin", results_dir_=STANDIN_B0.parent.parent)[-1]
    assert manifest["recipe"]["per_group"] == record["provenance"]["parameters"]["per_group"]
    model = tm.build_model(name, 10, image_size=manifest["recipe"]["image_size"], weights_file=path, trainable_blocks=2)
    stored = tm.read_weights_file(path)
    assert stored.keys() == model.backbone.state_dict().keys()
    assert all(torch.equal(model.backbone.state_dict()[k], v) for k, v in stored.items())
