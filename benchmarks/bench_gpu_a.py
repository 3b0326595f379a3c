"""Study A on one accelerator: seconds per 50-epoch paper-setting run and seeds per minute.

    python benchmarks/bench_gpu_a.py --seeds 10 --max-seconds 240          # on a GPU (JAX backend)
    python benchmarks/bench_gpu_a.py --seeds 1 --epochs 2 --train-size 512 --default-epochs 1  # CPU check

One process, JAX backend. The fast path (``train_keras.fit(steps_per_execution="epoch",
device_data=True)``: a whole epoch per call, the arrays on the device) trains the improved CNN with the
paper setting (Adam, the ``paper`` schedule from 1e-3 to 1e-5, batch 128, the 48,000-image split) once
per seed, one run after the other in the same process, until ``--seeds`` runs or ``--max-seconds``; then
the default path (one step per call, batches from the host) trains ``--default-epochs`` epochs for
comparison. ``tests/test_bench_fast_path.py`` shows that both paths give the same numbers for a seed.
Each run's test accuracy is measured once, after training (a result, not a choice). The first fast run
includes compilation; "seeds per minute" counts every run of the block, compilation included.
Results: one record ``bench_gpu_a`` (profile ``paper`` on an accelerator, else ``cpu``).
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--seeds", type=int, default=10)
    p.add_argument("--epochs", type=int, default=50)
    p.add_argument("--train-size", type=int, default=0, help="0: all 48,000 training images")
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--default-epochs", type=int, default=3, help="epochs of the default path (0: skip it)")
    p.add_argument("--max-seconds", type=float, default=240.0, help="no new fast run starts after this")
    p.add_argument("--profile", default=None, help="default: paper on an accelerator, else cpu")
    p.add_argument("--results-dir", default=None)
    args = p.parse_args(argv)
    if args.seeds < 1 or args.epochs < 1 or args.default_epochs < 0:
        p.error("need --seeds >= 1, --epochs >= 1, --default-epochs >= 0.")

    from fashionlib import results
    from fashionlib.backend import use_backend

    os.environ.setdefault("FASHIONLIB_GIT_COMMIT", results.git_commit())
    use_backend("jax")
    import jax

    from fashionlib import data, train_keras

    started = time.time()
    accel = jax.default_backend() != "cpu"
    profile = args.profile or ("paper" if accel else "cpu")
    d = data.prepare_data(data.load_fashion_mnist(), train_size=args.train_size or None)
    cfg = train_keras.FitConfig(model="improved_cnn", epochs=args.epochs, batch_size=args.batch_size, lr=1e-3,
                                lr_end=1e-5, schedule="paper")
    runs, t_block = [], time.perf_counter()
    for seed in range(args.seeds):
        if runs and time.perf_counter() - t_block > args.max_seconds:
            break
        t = time.perf_counter()
        res = train_keras.fit(d, dataclasses.replace(cfg, seed=seed), steps_per_execution="epoch", device_data=True)
        seconds = time.perf_counter() - t
        mets, _ = train_keras.evaluate(res.model, d["x_test"], d["y_test"])
        runs.append({"setting": {"path": "fast", "epochs": args.epochs, "train_images": len(d["x_train"])},
                     "seed": seed, "metrics": {"run_seconds": seconds, "accuracy": mets["accuracy"],
                                               "seconds_per_epoch": float(res.history["seconds"].iloc[1:].mean()
                                                                          if args.epochs > 1 else seconds)},
                     "history": {"epoch_seconds": res.history["seconds"].tolist()}})
        print(f"[bench_gpu_a] fast seed {seed}: {seconds:.1f} s, test accuracy {mets['accuracy']:.2f}%", flush=True)
    block_s = time.perf_counter() - t_block
    fast = [r["metrics"]["run_seconds"] for r in runs]
    summary = {"device": str(jax.devices()[0].device_kind), "fast_runs": len(runs), "fast_block_seconds": block_s,
               "seeds_per_minute": 60 * len(runs) / block_s,
               "run_seconds_median": statistics.median(fast),
               "run_seconds_after_first_median": statistics.median(fast[1:]) if len(fast) > 1 else None,
               "mean_test_accuracy": statistics.mean(r["metrics"]["accuracy"] for r in runs)}
    if args.default_epochs:
        t = time.perf_counter()
        res = train_keras.fit(d, dataclasses.replace(cfg, seed=0, epochs=args.default_epochs))
        h = res.history["seconds"]
        per_epoch = float(h.iloc[1:].mean() if len(h) > 1 else h.iloc[0])
        runs.append({"setting": {"path": "default", "epochs": args.default_epochs, "train_images": len(d["x_train"])},
                     "seed": 0, "metrics": {"run_seconds": time.perf_counter() - t, "seconds_per_epoch": per_epoch},
                     "history": {"epoch_seconds": h.tolist()}})
        fast_epoch = statistics.median(r["metrics"]["seconds_per_epoch"] for r in runs if r["setting"]["path"] == "fast")
        summary.update(default_seconds_per_epoch=per_epoch, fast_seconds_per_epoch=fast_epoch,
                       speedup_per_epoch=per_epoch / fast_epoch)
        print(f"[bench_gpu_a] default path: {per_epoch:.2f} s/epoch (fast {fast_epoch:.2f})", flush=True)
    params = {**{k: v for k, v in vars(args).items() if k != "results_dir"}, "profile": profile}
    path = results.write_record("bench_gpu_a", params, runs, started=started, results_dir_=args.results_dir,
                                extras={"summary": summary,
                                        "goal": "one 50-epoch run <= 30 s; >= 10 seeds in <= 120 s (one H100/H200)"})
    print(summary)
    print(f"[bench_gpu_a] wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
