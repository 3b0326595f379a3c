"""benchmarks/bench_study_b.py: FLOPs counted as computed (backward only where autograd runs it), options recorded."""

import importlib.util
import json
import os
import subprocess
import sys

import pytest
import torch
from torch.nn.attention import SDPBackend, sdpa_kernel
from torch.utils.flop_counter import FlopCounterMode

from fashionlib import torch_models
from tests.conftest import REPO

spec = importlib.util.spec_from_file_location("bench_study_b", REPO / "benchmarks" / "bench_study_b.py")
bench = importlib.util.module_from_spec(spec)
spec.loader.exec_module(bench)

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _per_block(counter, depth=4, op=None):
    counts = counter.get_flop_counts()
    return [sum(v for k, v in counts[f"EdgeNetClassifier.backbone.blocks.{i}"].items() if op is None or op in str(k))
            for i in range(depth)]


def _step_and_forward(trainable_blocks, edgenet):
    torch.manual_seed(0)
    model = torch_models.build_model("deit_micro", 10, image_size=16, edgenet=edgenet,
                                     trainable_blocks=trainable_blocks)
    x, y = torch.rand(2, 3, 16, 16), torch.tensor([1, 2])
    off = torch.autocast("cpu", enabled=False)
    step = bench.train_step_flops(model, x, y, off)
    with FlopCounterMode(display=False) as fwd, sdpa_kernel(SDPBackend.MATH), torch.no_grad():
        model(x)
    assert all(p.grad is None for p in model.parameters())  # train_step_flops clears what it computed
    return step, fwd


def test_frozen_blocks_count_their_forward_only_without_edgenet():
    step, fwd = _step_and_forward(trainable_blocks=2, edgenet=False)
    f = _per_block(fwd)
    assert _per_block(step) == [f[0], f[1], 3 * f[2], 3 * f[3]]  # backward (input + weight grads) in the last two
    # attention's matrix products are counted (the math kernel), not only the linear layers
    assert any("bmm" in str(op) for op in step.get_flop_counts()["Global"])


def test_every_block_trains_counts_three_forwards_and_edgenet_adds_input_gradients_of_frozen_blocks():
    step, fwd = _step_and_forward(trainable_blocks=-1, edgenet=False)
    assert _per_block(step) == [3 * f for f in _per_block(fwd)]
    step, fwd = _step_and_forward(trainable_blocks=2, edgenet=True)
    f, attn = _per_block(fwd), _per_block(fwd, op="bmm")
    assert min(attn) > 0
    # EdgeNet needs the input gradients of the frozen blocks: one product more per linear layer, two per
    # attention product (it has no weights: both of its operands need gradients)
    assert _per_block(step) == [2 * f[0] + attn[0], 2 * f[1] + attn[1], 3 * f[2], 3 * f[3]]


def test_cpu_run_records_the_speed_options(tmp_path):
    proc = subprocess.run([sys.executable, str(REPO / "benchmarks" / "bench_study_b.py"), "--backbones", "deit_micro",
                           "--image-size", "16", "--batch-size", "4", "--steps", "2", "--warmup", "1",
                           "--trainable-blocks", "2", "--edgenet", "with", "--threads", "1", "--predecode",
                           "--channels-last", "--results-dir", str(tmp_path)],
                          capture_output=True, text=True, timeout=600, cwd=REPO,
                          env=dict(os.environ, PYTHONPATH=str(REPO)))
    assert proc.returncode == 0, proc.stderr[-2000:]
    (path,) = (tmp_path / "cpu" / "bench_study_b").glob("*.json")
    record = json.loads(path.read_text())
    assert record["provenance"]["parameters"]["predecode"] is True and record["provenance"]["parameters"]["channels_last"] is True
    (run,) = record["runs"]
    assert "error" not in run["metrics"], run
    assert {k: run["setting"][k] for k in ("compile", "predecode", "channels_last", "trainable_blocks")} == \
        {"compile": False, "predecode": True, "channels_last": True, "trainable_blocks": 2}
    assert run["metrics"]["images_per_s"] > 0 and run["metrics"]["gflops_per_image_train"] > 0


def test_mfu_levers_parse_and_each_combination_is_one_measured_run(tmp_path):
    """The GPU levers (batch sizes, compile modes, fused AdamW, attention kernels), checked on the CPU with a tiny
    backbone: every combination is one run whose setting names its levers."""
    proc = subprocess.run([sys.executable, str(REPO / "benchmarks" / "bench_study_b.py"), "--backbones", "deit_micro",
                           "--image-size", "16", "--batch-size", "2", "4", "--steps", "1", "--warmup", "0",
                           "--trainable-blocks", "2", "--edgenet", "without", "--threads", "1",
                           "--no-fused-adamw", "--sdpa", "auto", "math", "--results-dir", str(tmp_path)],
                          capture_output=True, text=True, timeout=600, cwd=REPO,
                          env=dict(os.environ, PYTHONPATH=str(REPO)))
    assert proc.returncode == 0, proc.stderr[-2000:]
    (path,) = (tmp_path / "cpu" / "bench_study_b").glob("*.json")
    runs = json.loads(path.read_text())["runs"]
    assert all("error" not in r["metrics"] for r in runs), runs
    assert sorted((r["setting"]["batch_size"], r["setting"]["sdpa"]) for r in runs) == \
        [(2, "auto"), (2, "math"), (4, "auto"), (4, "math")]
    assert {r["setting"]["fused_adamw"] for r in runs} == {False}


@pytest.mark.parametrize("args, message", [
    (["--compile-mode", "max-autotune"], "ignored without --compile"),
    (["--compile", "--compile-mode", "fastest"], "invalid choice: 'fastest'"),
    (["--sdpa", "flashy"], "invalid choice: 'flashy'"),
    (["--batch-size", "0"], "--batch-size takes integers >= 1"),
])
def test_bad_lever_is_refused_before_any_work(tmp_path, args, message):
    proc = subprocess.run([sys.executable, str(REPO / "benchmarks" / "bench_study_b.py"), "--backbones", "deit_micro",
                           *args, "--dry-run", "--results-dir", str(tmp_path)], capture_output=True, text=True,
                          timeout=300, cwd=REPO, env=dict(os.environ, PYTHONPATH=str(REPO)))
    assert proc.returncode == 2 and message in proc.stderr, proc.stderr[-2000:]
    assert not any(tmp_path.iterdir())


def test_dry_run_takes_every_lever_at_once(tmp_path):
    proc = subprocess.run([sys.executable, str(REPO / "benchmarks" / "bench_study_b.py"), "--backbones",
                           "beit_base_patch16_224", "--batch-size", "128", "256", "--compile", "--compile-mode",
                           "default", "max-autotune", "reduce-overhead", "--fused-adamw", "--sdpa", "auto", "efficient",
                           "--dry-run", "--results-dir", str(tmp_path)],
                          capture_output=True, text=True, timeout=300, cwd=REPO, env=dict(os.environ, PYTHONPATH=str(REPO)))
    assert proc.returncode == 0, proc.stderr[-2000:]
    args = json.loads(proc.stdout.strip().splitlines()[-1])
    assert args["compile_mode"] == ["default", "max-autotune", "reduce-overhead"] and args["batch_size"] == [128, 256]
    assert args["fused_adamw"] is True and args["sdpa"] == ["auto", "efficient"]
    assert not any(tmp_path.iterdir())
