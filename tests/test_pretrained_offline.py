"""The pretrained-weights path offline: a Hugging Face cache laid out as huggingface_hub lays it out,
and local weights files, load exactly the tensors that were saved."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from fashionlib import torch_models as tm

pytestmark = pytest.mark.usefixtures("one_torch_thread")
REPO = Path(__file__).resolve().parent.parent
REVISION = "0123456789abcdef0123456789abcdef01234567"
# A micro-sized backbone that claims timm's DeiT-base hub weights: the real loading code
# (timm.create_model(pretrained=True) -> huggingface_hub.hf_hub_download) on a model small enough to be fast.
HUB_MICRO = {"timm": "deit_base_patch16_224", "family": "DeiT", "paper": True,
             "kwargs": dict(tm.BACKBONES["deit_micro"]["kwargs"])}


def write_hf_cache(hf_home: Path, model: torch.nn.Module, timm_name: str) -> Path:
    """HF_HOME/hub/models--<org>--<name>/{refs/main, snapshots/<rev>/{model.safetensors, config.json}}."""
    import timm
    from timm.models._hub import save_for_hf

    repo_id = timm.models.get_pretrained_cfg(timm_name).hf_hub_id
    org, name = repo_id.split("/")
    repo = hf_home / "hub" / f"models--{org}--{name}"
    snap = repo / "snapshots" / REVISION
    save_for_hf(model, str(snap), safe_serialization=True)  # model.safetensors + config.json, as timm writes them
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text(REVISION)
    return snap


SCRIPT = r"""
import json, sys, torch
from safetensors.torch import load_file
from fashionlib import torch_models as tm
tm.BACKBONES["hub_micro"] = json.loads(sys.argv[2])
torch.manual_seed(7)
model = tm.build_model("hub_micro", 5, image_size=32, pretrained=True, allow_download=False)
saved = load_file(sys.argv[1])
got = model.backbone.state_dict()
fresh = tm.create_backbone("hub_micro", image_size=32).state_dict()
print(json.dumps({"keys_equal": set(saved) == set(got),
                  "tensors_equal": all(torch.equal(saved[k], got[k]) for k in saved),
                  "differs_from_random": not all(torch.equal(saved[k], fresh[k]) for k in saved),
                  "n": len(saved)}))
"""


def _run(hf_home: Path, weights: Path):
    env = {**os.environ, "HF_HOME": str(hf_home), "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(REPO)}
    env.pop("HF_HUB_CACHE", None)
    return subprocess.run([sys.executable, "-c", SCRIPT, str(weights), json.dumps(HUB_MICRO)],
                          env=env, capture_output=True, text=True, timeout=300)


def test_pretrained_true_loads_exactly_the_cached_tensors(tmp_path):
    torch.manual_seed(123)
    import timm

    src = timm.create_model("deit_base_patch16_224", num_classes=0, img_size=32, **HUB_MICRO["kwargs"])
    snap = write_hf_cache(tmp_path / "hf", src, "deit_base_patch16_224")
    config = json.loads((snap / "config.json").read_text())
    assert config["architecture"] == "deit_base_patch16_224" and "pretrained_cfg" in config
    out = _run(tmp_path / "hf", snap / "model.safetensors")
    assert out.returncode == 0, out.stderr[-3000:]
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result == {"keys_equal": True, "tensors_equal": True, "differs_from_random": True, "n": result["n"]}
    assert result["n"] > 20


def test_pretrained_true_offline_without_the_files_is_a_clear_error(tmp_path):
    (tmp_path / "hf" / "hub").mkdir(parents=True)
    env = {**os.environ, "HF_HOME": str(tmp_path / "hf"), "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(REPO)}
    env.pop("HF_HUB_CACHE", None)
    code = ("from fashionlib import torch_models as tm\n"
            "try:\n    tm.create_backbone('deit_base_patch16_224', pretrained=True)\n"
            "except tm.WeightsNotFoundError as e:\n    print('ERR', e)\n")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    assert "ERR" in out.stdout and str(tmp_path / "hf" / "hub") in out.stdout and "weights_file=" in out.stdout


def test_hub_cache_dir_follows_the_environment_now(tmp_path, monkeypatch):
    monkeypatch.delenv("HF_HUB_CACHE", raising=False)
    monkeypatch.setenv("HF_HOME", str(tmp_path / "home"))
    assert tm.hub_cache_dir() == tmp_path / "home" / "hub"
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "c"))
    assert tm.hub_cache_dir() == tmp_path / "c"


@pytest.mark.parametrize("fmt", ["safetensors", "pt"])
def test_weights_file_loads_exactly_those_tensors_into_the_composed_model(tmp_path, fmt):
    from safetensors.torch import save_file

    torch.manual_seed(11)
    src = tm.create_backbone("swinv2_micro", image_size=32)
    state = {k: v.contiguous() for k, v in src.state_dict().items()}
    path = tmp_path / f"w.{fmt}"
    save_file(state, str(path)) if fmt == "safetensors" else torch.save(state, path)
    torch.manual_seed(12)
    model = tm.build_model("swinv2_micro", 4, image_size=32, weights_file=path, trainable_blocks=1)
    got = model.backbone.state_dict()
    assert set(got) == set(state) and all(torch.equal(got[k], state[k]) for k in state)
    fresh = tm.build_model("swinv2_micro", 4, image_size=32).backbone.state_dict()
    assert not all(torch.equal(fresh[k], state[k]) for k in state)


def test_weights_file_from_a_classifier_checkpoint_drops_its_head(tmp_path):
    import timm

    src = timm.create_model("deit_base_patch16_224", num_classes=10, img_size=32,
                            **tm.BACKBONES["deit_micro"]["kwargs"])
    torch.save(src.state_dict(), tmp_path / "with_head.pt")
    model = tm.build_model("deit_micro", 3, image_size=32, weights_file=tmp_path / "with_head.pt")
    assert torch.equal(model.backbone.state_dict()["cls_token"], src.state_dict()["cls_token"])
    assert model.head.out_features == 3
