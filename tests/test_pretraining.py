"""B0: disjoint pretraining / fine-tuning halves, and weights saved with a manifest that is checked."""

import json

import numpy as np
import pytest
import torch

from fashionlib import apparel, data, results
from fashionlib import torch_models as tm

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def test_halves_are_disjoint_balanced_and_fixed(fmnist):
    a, b = apparel.fmnist_halves(fmnist.y_train)
    assert not set(a) & set(b) and len(a) + len(b) == len(fmnist.y_train)
    assert np.bincount(fmnist.y_train[a]).tolist() == [3000] * 10
    a2, _ = apparel.fmnist_halves(fmnist.y_train)
    assert np.array_equal(a, a2)


def _rows(arrays):
    return {bytes(x) for x in arrays.reshape(len(arrays), -1)}


def test_pretraining_images_never_reach_fine_tuning(fmnist_dir):
    pre = apparel.fmnist_pretraining_set(300)
    assert np.bincount(pre.labels).tolist() == [300] * 10
    for seed in (0, 1):
        lt = apparel.fmnist_long_tailed(10, n_max=600, seed=seed)
        assert not _rows(pre.arrays) & _rows(lt.arrays)
    fm = data.load_fashion_mnist()
    assert not _rows(pre.arrays) & _rows(fm.x_test)


def test_bad_sizes():
    with pytest.raises(ValueError, match="per_class"):
        apparel.fmnist_pretraining_set(4000)
    with pytest.raises(ValueError, match="n_max"):
        apparel.fmnist_long_tailed(10, n_max=5000)


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


STANDIN_B0 = results.REPO_ROOT / "book" / "results" / "standin" / "b0_pretraining"
MICRO = [n for n, spec in tm.BACKBONES.items() if not spec["paper"]]


@pytest.mark.parametrize("name", MICRO)
def test_committed_standin_weights_verify_and_load_through_weights_file(name):
    """B0's committed standin weights match their manifests, name the committed record, and load exactly
    through the ``weights_file`` path B2 (and a user with weights of their own) takes."""
    path = STANDIN_B0 / f"{name}.safetensors"
    manifest = tm.verify_weights(path)  # raises when the file is absent or changed
    assert manifest["backbone"] == name and manifest["record"] in {p.name for p in STANDIN_B0.glob("*.json")}
    record = results.load_records("b0_pretraining", "standin", results_dir_=STANDIN_B0.parent.parent)[-1]
    assert manifest["recipe"]["per_class"] == record["provenance"]["parameters"]["per_class"]
    model = tm.build_model(name, 10, image_size=manifest["recipe"]["image_size"], weights_file=path, trainable_blocks=2)
    stored = tm.read_weights_file(path)
    assert stored.keys() == model.backbone.state_dict().keys()
    assert all(torch.equal(model.backbone.state_dict()[k], v) for k, v in stored.items())
