"""Study B benchmark: training throughput, peak memory and model-FLOPs utilisation per backbone.

For each of the paper's four backbones at 224 px, with and without EdgeNet, this times full
training steps (forward, backward, Adam step) on random data on whatever device is present and
writes one results record (``notebook="bench_study_b"``):

* images/s (median over timed steps),
* peak memory: ``torch.cuda.max_memory_allocated`` on a GPU; on a CPU the peak resident set size
  of a fresh process per configuration (``resource.getrusage``), and its growth over the
  process's size before the model was built,
* FLOPs per image for one training step, counted with ``torch.utils.flop_counter.FlopCounterMode``
  (no fvcore), and on a GPU the model FLOPs utilisation: achieved FLOP/s / the GPU's peak dense
  bf16 rate (the project's goal for BEiT-base fine-tuning: >= 40%).

Only the trainable parameters get gradients and AdamW updates, so the counted FLOPs are those actually
computed: the forward pass through every block, the backward pass as far back as the first trainable
block (``--trainable-blocks``: -1 every block, 4 the last four). GPU steps use bf16 autocast,
channels-last and fused AdamW (``--compile`` adds ``torch.compile``).

    nice -n 10 python benchmarks/bench_study_b.py                 # CPU: batch 2, few steps
    python benchmarks/bench_study_b.py --batch-size 128 --steps 30 --compile   # GPU
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


def measure(backbone: str, edgenet: bool, image_size: int, batch_size: int, steps: int, warmup: int,
            compile_: bool, device_name: str, threads: int | None = None, trainable_blocks: int = -1) -> dict:
    import torch
    import torch.nn.functional as F

    if threads:
        torch.set_num_threads(threads)
    from torch.utils.flop_counter import FlopCounterMode

    from fashionlib import torch_models

    device = torch.device(device_name)
    torch.manual_seed(0)
    rss_before = _rss_mb()
    model = torch_models.build_model(backbone, 59, image_size=image_size, edgenet=edgenet, dropout=0.05,
                                     trainable_blocks=trainable_blocks)
    model = model.to(device)
    if device.type == "cuda":
        model = model.to(memory_format=torch.channels_last)
    trainable = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(trainable, lr=1e-4, **({"fused": True} if device.type == "cuda" else {}))
    x = torch.randn(batch_size, 3, image_size, image_size, device=device)
    if device.type == "cuda":
        x = x.contiguous(memory_format=torch.channels_last)
    y = torch.randint(0, 59, (batch_size,), device=device)
    amp = (torch.autocast("cuda", dtype=torch.bfloat16) if device.type == "cuda"
           else torch.autocast("cpu", enabled=False))
    fwd = torch.compile(model) if compile_ else model

    def step():
        with amp:
            loss = F.cross_entropy(fwd(x).float(), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    # FLOPs of one training step (forward + backward), counted on the eager model
    with FlopCounterMode(display=False) as counter:
        with amp:
            loss = F.cross_entropy(model(x).float(), y)
        loss.backward()
    opt.zero_grad(set_to_none=True)
    flops_per_image = counter.get_total_flops() / batch_size

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

    from fashionlib import results, torch_models

    os.environ.setdefault("FASHIONLIB_GIT_COMMIT", results.git_commit())  # the code the run starts from
    cuda = torch.cuda.is_available()
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--backbones", nargs="+", default=list(torch_models.PAPER_BACKBONES))
    ap.add_argument("--image-size", type=int, default=224)
    ap.add_argument("--batch-size", type=int, default=128 if cuda else 2)
    ap.add_argument("--steps", type=int, default=20 if cuda else 3)
    ap.add_argument("--warmup", type=int, default=5 if cuda else 1)
    ap.add_argument("--compile", action="store_true")
    ap.add_argument("--trainable-blocks", type=int, nargs="+", default=[-1, 4],
                    help="settings to measure: -1 trains every block, 4 the last four (plus EdgeNet and head)")
    ap.add_argument("--edgenet", choices=["both", "with", "without"], default="both")
    ap.add_argument("--device", default="cuda" if cuda else "cpu")
    ap.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    ap.add_argument("--no-record", action="store_true")
    ap.add_argument("--profile", default=None, help="results profile (default: paper on a GPU, else cpu)")
    ap.add_argument("--results-dir", default=None, help="default: book/results")
    args = ap.parse_args(argv)

    started = time.time()
    rows = []
    ctx = mp.get_context("spawn")  # a fresh process per configuration: clean peak-memory numbers
    edgenets = {"both": (False, True), "with": (True,), "without": (False,)}[args.edgenet]
    for name, tb in [(n, t) for n in args.backbones for t in args.trainable_blocks]:
        for edgenet in edgenets:
            q = ctx.Queue()
            p = ctx.Process(target=_child, args=((name, edgenet, args.image_size, args.batch_size, args.steps,
                                                  args.warmup, args.compile, args.device, args.threads, tb), q))
            p.start()
            row = q.get()
            p.join()
            rows.append(row)
            print(json.dumps({k: (round(v, 3) if isinstance(v, float) else v) for k, v in row.items()}), flush=True)

    params = {"profile": args.profile or ("cpu" if args.device == "cpu" else "paper"), "backbones": args.backbones,
              "image_size": args.image_size, "batch_size": args.batch_size, "steps": args.steps,
              "warmup": args.warmup, "compile": args.compile, "device": args.device,
              "torch_threads": args.threads or torch.get_num_threads()}
    if not args.no_record:
        setting_keys = ("backbone", "edgenet", "trainable_blocks", "image_size", "batch_size", "steps", "threads",
                        "device", "gpu")
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
