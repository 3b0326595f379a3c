"""Study B benchmark: training throughput, peak memory and model-FLOPs utilisation per backbone.

For each of the paper's four backbones at 224 px, with and without EdgeNet, this times full
training steps (forward, backward, Adam step) on random data on whatever device is present and
writes one results record (``notebook="bench_study_b"``):

* images/s (median over timed steps),
* peak memory: ``torch.cuda.max_memory_allocated`` on a GPU; on a CPU the peak resident set size
  of a fresh process per configuration (``resource.getrusage``), and its growth over the
  process's size before the model was built,
* FLOPs per image for one training step, counted with ``torch.utils.flop_counter.FlopCounterMode``
  (no fvcore) on the eager model (:func:`train_step_flops`), and on a GPU the model FLOPs utilisation:
  achieved FLOP/s / the GPU's peak dense bf16 rate (the project's goal for BEiT-base fine-tuning: >= 40%).

The counted FLOPs are those the step computes: matrix products and convolutions of the forward pass
through every block, and of the backward pass that autograd runs. Only trainable parameters get
gradients, so without EdgeNet the backward stops at the first trainable block (``--trainable-blocks``:
-1 every block, 4 the last four); with EdgeNet (trainable, in front) it also runs through the frozen
blocks, for the input gradients only. Attention is counted through the math kernel, because the
counter does not see every fused kernel (PyTorch's CPU flash attention).

Speed options, each recorded with the run (the same code as ``train_torch.TrainConfig``'s fields):
GPU steps use bf16 autocast and fused AdamW; ``--compile`` compiles the backbone
(``torch_models.compile_backbone``); ``--predecode`` draws each batch from uint8 images held on the
device through the training path's ``TorchImageDataset.batch`` (conversion and normalisation in the
step, no augmentation) instead of one fixed float batch; ``--channels-last`` (default: on CUDA only)
puts the convolutions (EdgeNet, patch embedding) and the batch in channels-last layout.

Levers toward 40% MFU, each measured in the same call (one fresh process per combination):
``--batch-size 128 256 384`` (larger batches), ``--compile-mode default max-autotune reduce-overhead``
(with ``--compile``; the last two capture CUDA graphs), ``--fused-adamw/--no-fused-adamw`` and
``--sdpa auto efficient cudnn`` (attention kernels that take BEiT's relative position bias).

    nice -n 10 python benchmarks/bench_study_b.py                 # CPU: batch 2, few steps
    python benchmarks/bench_study_b.py --batch-size 128 --steps 30 --compile --predecode   # GPU
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import resource
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

# Peak dense bf16 tensor-core rates (FLOP/s), from the vendors' data sheets (no sparsity).
PEAK_BF16 = {
    "H200": 989e12, "H100 SXM": 989e12, "H100 PCIe": 756e12, "H100 NVL": 835e12, "H100": 989e12,
    "A100": 312e12, "L40S": 362e12, "L4": 121e12, "A10": 125e12, "RTX 4090": 165e12,
}


def peak_bf16(device_name: str) -> float | None:
    for key in sorted(PEAK_BF16, key=len, reverse=True):
        if key.lower() in device_name.lower():
            return PEAK_BF16[key]
    return None


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: kB


def train_step_flops(model, x, y, amp):
    """The FlopCounterMode counter of one forward and backward pass of ``model`` (eager) on ``(x, y)``.

    Attention runs through the math kernel while counting (plain matrix products, which the counter
    always sees); gradients are cleared afterwards. ``counter.get_flop_counts()`` has them per module.
    """
    import torch.nn.functional as F
    from torch.nn.attention import SDPBackend, sdpa_kernel
    from torch.utils.flop_counter import FlopCounterMode

    with FlopCounterMode(display=False) as counter, sdpa_kernel(SDPBackend.MATH):
        with amp:
            loss = F.cross_entropy(model(x).float(), y)
        loss.backward()
    model.zero_grad(set_to_none=True)
    return counter


COMPILE_MODES = ("default", "reduce-overhead", "max-autotune", "max-autotune-no-cudagraphs")
SDPA_BACKENDS = ("auto", "flash", "efficient", "cudnn", "math")


def sdpa_context(name: str):
    """The attention kernels a step may use: ``auto`` (PyTorch's choice) or one of them only (``flash`` takes no
    attention bias, so BEiT's relative position bias needs ``efficient`` or ``cudnn``)."""
    import contextlib

    if name == "auto":
        return contextlib.nullcontext()
    from torch.nn.attention import SDPBackend, sdpa_kernel

    return sdpa_kernel({"flash": SDPBackend.FLASH_ATTENTION, "efficient": SDPBackend.EFFICIENT_ATTENTION,
                        "cudnn": SDPBackend.CUDNN_ATTENTION, "math": SDPBackend.MATH}[name])


def measure(backbone: str, edgenet: bool, image_size: int, batch_size: int, steps: int, warmup: int,
            compile_: bool, device_name: str, threads: int | None = None, trainable_blocks: int = -1,
            predecode: bool = False, channels_last: bool | None = None, compile_mode: str = "default",
            fused_adamw: bool | None = None, sdpa: str = "auto") -> dict:
    import numpy as np
    import torch
    import torch.nn.functional as F

    if threads:
        torch.set_num_threads(threads)

    from fashionlib import apparel, torch_device, torch_images, torch_models

    device = torch.device(device_name)
    channels_last = torch_device.use_channels_last(channels_last, device)
    torch.manual_seed(0)
    rss_before = _rss_mb()
    model = torch_models.build_model(backbone, 59, image_size=image_size, edgenet=edgenet, dropout=0.05,
                                     trainable_blocks=trainable_blocks)
    model = model.to(device)
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
    trainable = [p for p in model.parameters() if p.requires_grad]
    fused_adamw = device.type == "cuda" if fused_adamw is None else fused_adamw
    opt = torch.optim.AdamW(trainable, lr=1e-4, fused=fused_adamw)
    if predecode:  # the training path's pre-decoded batches: uint8 on the device, normalised in the step
        n = 4 * batch_size
        gen = np.random.default_rng(0)
        source = apparel.ImageSource(gen.integers(0, 59, n), [str(c) for c in range(59)],
                                     arrays=gen.integers(0, 256, (n, image_size, image_size, 3), dtype=np.uint8))
        dc = torch_images.data_config(model, image_size)
        ds = torch_images.TorchImageDataset(source, np.arange(n), image_size, dc["mean"], dc["std"])
        ds.predecode(device)
        starts = iter(range(10**9))

        def batch():
            ks = (np.arange(batch_size) + batch_size * next(starts)) % n
            return torch_device.to_device(*ds.batch(ks), device, channels_last)
    else:  # one fixed batch already on the device: the model's speed alone
        fixed = torch_device.to_device(torch.randn(batch_size, 3, image_size, image_size),
                                       torch.randint(0, 59, (batch_size,)), device, channels_last)

        def batch():
            return fixed
    amp = (torch.autocast("cuda", dtype=torch.bfloat16) if device.type == "cuda"
           else torch.autocast("cpu", enabled=False))

    # FLOPs of one training step (forward + backward), counted on the eager model before any compiling
    flops_per_image = train_step_flops(model, *batch(), amp).get_total_flops() / batch_size
    if compile_:
        torch_models.compile_backbone(model, None if compile_mode == "default" else compile_mode)

    def step():
        x, y = batch()
        with amp, sdpa_context(sdpa):
            loss = F.cross_entropy(model(x).float(), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    for _ in range(warmup):
        step()
    times = []
    for _ in range(steps):
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        t = time.perf_counter()
        step()
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        times.append(time.perf_counter() - t)
    step_s = statistics.median(times)
    out = {"backbone": backbone, "edgenet": edgenet, "trainable_blocks": trainable_blocks,
           "compile": compile_, "compile_mode": compile_mode if compile_ else None, "fused_adamw": fused_adamw,
           "sdpa": sdpa, "predecode": predecode, "channels_last": channels_last,
           "trainable_params": sum(p.numel() for p in trainable),
           "image_size": image_size, "batch_size": batch_size,
           "threads": torch.get_num_threads(),
           "steps": steps, "images_per_s": batch_size / step_s, "step_s_median": step_s,
           "params": sum(p.numel() for p in model.parameters()),
           "gflops_per_image_train": flops_per_image / 1e9, "device": device_name}
    if device.type == "cuda":
        out["peak_mem_mb"] = torch.cuda.max_memory_allocated(device) / 2**20
        name = torch.cuda.get_device_name(device)
        peak = peak_bf16(name)
        achieved = flops_per_image * batch_size / step_s
        out.update({"gpu": name, "achieved_tflops": achieved / 1e12,
                    "peak_bf16_tflops": peak / 1e12 if peak else None,
                    "mfu": achieved / peak if peak else None})
    else:
        out["peak_rss_mb"] = _rss_mb()
        out["rss_growth_mb"] = out["peak_rss_mb"] - rss_before
    return out


def _child(args, q):
    try:
        q.put(measure(*args))
    except Exception as exc:  # report, do not hang the parent
        q.put({"backbone": args[0], "edgenet": args[1], "error": f"{exc.__class__.__name__}: {exc}"})


def main(argv=None) -> int:
    import torch

    from fashionlib import files, results, torch_models

    os.environ.setdefault("FASHIONLIB_GIT_COMMIT", files.git_commit())  # the code the run starts from
    cuda = torch.cuda.is_available()
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--backbones", nargs="+", default=list(torch_models.PAPER_BACKBONES))
    ap.add_argument("--image-size", type=int, default=224)
    ap.add_argument("--batch-size", type=int, nargs="+", default=[128 if cuda else 2],
                    help="one or more batch sizes, each measured (larger batches: a lever for MFU)")
    ap.add_argument("--steps", type=int, default=20 if cuda else 3)
    ap.add_argument("--warmup", type=int, default=5 if cuda else 1)
    ap.add_argument("--compile", action="store_true", help="torch.compile the backbone (inductor)")
    ap.add_argument("--compile-mode", nargs="+", choices=COMPILE_MODES, default=["default"],
                    help="torch.compile modes to measure (need --compile): max-autotune and reduce-overhead "
                         "use CUDA graphs")
    ap.add_argument("--fused-adamw", action=argparse.BooleanOptionalAction, default=None,
                    help="AdamW's fused kernel (default: on CUDA only)")
    ap.add_argument("--sdpa", nargs="+", choices=SDPA_BACKENDS, default=["auto"],
                    help="attention kernels to measure: auto, or one backend only (BEiT's position bias: "
                         "efficient or cudnn)")
    ap.add_argument("--predecode", action="store_true",
                    help="batches from uint8 images held on the device, normalised in the step (the training "
                         "path's predecode=True); default: one fixed float batch")
    ap.add_argument("--channels-last", action=argparse.BooleanOptionalAction, default=None,
                    help="channels-last convolutions and batches (default: on CUDA only)")
    ap.add_argument("--trainable-blocks", type=int, nargs="+", default=[-1, 4],
                    help="settings to measure: -1 trains every block, 4 the last four (plus EdgeNet and head)")
    ap.add_argument("--edgenet", choices=["both", "with", "without"], default="both")
    ap.add_argument("--device", default="cuda" if cuda else "cpu")
    ap.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    ap.add_argument("--no-record", action="store_true")
    ap.add_argument("--dry-run", action="store_true", help="check the arguments, print them, measure nothing")
    ap.add_argument("--profile", default=None, help="results profile (default: paper on a GPU, else cpu)")
    ap.add_argument("--results-dir", default=None, help="default: book/results")
    args = ap.parse_args(argv)
    if args.compile_mode != ["default"] and not args.compile:
        ap.error(f"--compile-mode {' '.join(args.compile_mode)} is ignored without --compile. Fix: add --compile.")
    if any(b < 1 for b in args.batch_size):
        ap.error(f"--batch-size takes integers >= 1, got {args.batch_size}.")
    if args.device == "cpu" and (args.fused_adamw or args.compile_mode != ["default"] or args.sdpa != ["auto"]):
        print("note: fused AdamW, CUDA-graph compile modes and attention kernels are GPU levers; on the CPU they "
              "are checked, not meaningful", flush=True)
    if args.dry_run:
        print(json.dumps({k: v for k, v in vars(args).items()}), flush=True)
        return 0

    started = time.time()
    rows = []
    ctx = mp.get_context("spawn")  # a fresh process per configuration: clean peak-memory numbers
    edgenets = {"both": (False, True), "with": (True,), "without": (False,)}[args.edgenet]
    grid = [(n, t, bs, mode, sd) for n in args.backbones for t in args.trainable_blocks for bs in args.batch_size
            for mode in args.compile_mode for sd in args.sdpa]
    for name, tb, bs, mode, sd in grid:
        for edgenet in edgenets:
            q = ctx.Queue()
            p = ctx.Process(target=_child, args=((name, edgenet, args.image_size, bs, args.steps,
                                                  args.warmup, args.compile, args.device, args.threads, tb,
                                                  args.predecode, args.channels_last, mode, args.fused_adamw, sd), q))
            p.start()
            row = q.get()
            p.join()
            rows.append(row)
            print(json.dumps({k: (round(v, 3) if isinstance(v, float) else v) for k, v in row.items()}), flush=True)

    params = {"profile": args.profile or ("cpu" if args.device == "cpu" else "paper"), "backbones": args.backbones,
              "image_size": args.image_size, "batch_size": args.batch_size, "steps": args.steps,
              "warmup": args.warmup, "compile": args.compile, "predecode": args.predecode,
              "channels_last": args.channels_last, "compile_mode": args.compile_mode, "fused_adamw": args.fused_adamw,
              "sdpa": args.sdpa, "device": args.device,
              "torch_threads": args.threads or torch.get_num_threads()}
    if not args.no_record:
        setting_keys = ("backbone", "edgenet", "trainable_blocks", "compile", "compile_mode", "fused_adamw", "sdpa",
                        "predecode", "channels_last", "image_size", "batch_size", "steps", "threads", "device", "gpu")
        renamed = {"device": "torch_device"}  # "device" is a column of every results frame already
        runs = [{"setting": {renamed.get(k, k): r[k] for k in setting_keys if k in r},
                 "seed": 0,
                 "metrics": {k: v for k, v in r.items() if k not in setting_keys and v is not None
                             and not isinstance(v, (list, dict))}} for r in rows]
        path = results.write_record("bench_study_b", params, runs, started=started, results_dir_=args.results_dir,
                                    extras={"load_average_1_5_15": list(os.getloadavg()),
                                            "note": "random-init weights, random data; throughput of full "
                                                    "training steps (forward+backward+Adam)"})
        print("wrote", path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
