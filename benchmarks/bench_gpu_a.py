"""Study A on one accelerator: seconds per 50-epoch paper-setting run and per 10 seeds, three ways.

    python benchmarks/bench_gpu_a.py --seeds 10 --max-seconds 150               # on a GPU (JAX backend)
    python benchmarks/bench_gpu_a.py --seeds 2 --epochs 1 --train-size 2000 --fast-runs 1 --default-epochs 0  # CPU

One process, JAX backend, the improved CNN with the paper setting (Adam, the ``paper`` schedule from 1e-3 to
1e-5, batch 128, the 48,000-image split), every run through ``keras_runs.run_many`` (training, then one
test evaluation, as in a notebook), on three paths:

* ``fast``: the single-run fast path (``fast_path=True``: a whole epoch per compiled call, the arrays on the device),
  one run after another: ``--fast-runs`` seeds, no new one after ``--max-seconds``; per 10 seeds is ten
  times the median run (each run compiles its own program, so every run counts);
* ``workers``: the fast path in ``--jobs`` worker processes sharing the device (``run_many(jobs=...)``), the
  ``--seeds`` seeds at once; per 10 seeds is the block's wall time scaled to 10 runs;
* ``vmap``: the ``--seeds`` seeds trained together in one program (``fast_path="vmap"``,
  ``train_vmap.fit_seeds``); per 10 seeds as for workers.

``--default-epochs`` also times the default path (one step per call, batches from the host) for the fast
path's per-epoch speed-up. The ratios printed and kept are each path's seconds per 10 seeds against the
the fast path's, one run at a time. ``tests/test_train_vmap.py`` shows that the vectorised path trains the same runs.
Results: one record ``bench_gpu_a`` (profile ``paper`` on an accelerator, else ``cpu``); its summary is
what ``fashionlib.gpu_estimate`` reads.
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

PATHS = ("fast", "workers", "vmap")  # "fast": the single-run fast path (the name of earlier records)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--seeds", type=int, default=10, help="runs of the workers and vmap paths (seeds 0..N-1)")
    p.add_argument("--fast-runs", type=int, default=2, help="runs of the single path, one after another")
    p.add_argument("--jobs", type=int, default=None, help="worker processes of the workers path (default: --seeds)")
    p.add_argument("--paths", default=",".join(PATHS), help=f"comma-separated, from {', '.join(PATHS)}")
    p.add_argument("--epochs", type=int, default=50)
    p.add_argument("--train-size", type=int, default=0, help="0: all 48,000 training images")
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--default-epochs", type=int, default=1, help="epochs of the default path (0: skip it)")
    p.add_argument("--max-seconds", type=float, default=150.0, help="no new single-path run starts after this")
    p.add_argument("--profile", default=None, help="default: paper on an accelerator, else cpu")
    p.add_argument("--results-dir", default=None)
    args = p.parse_args(argv)
    paths = [s for s in args.paths.split(",") if s]
    if not paths or any(s not in PATHS for s in paths):
        p.error(f"--paths takes a comma-separated list from {', '.join(PATHS)}; got {args.paths!r}.")
    if args.seeds < 1 or args.fast_runs < 1 or args.epochs < 1 or args.default_epochs < 0:
        p.error("need --seeds >= 1, --fast-runs >= 1, --epochs >= 1, --default-epochs >= 0.")
    jobs = args.jobs or args.seeds
    if jobs < 1:
        p.error("need --jobs >= 1.")

    from fashionlib import files, results
    from fashionlib.backend import use_backend

    os.environ.setdefault("FASHIONLIB_GIT_COMMIT", files.git_commit())
    use_backend("jax")
    import jax

    from fashionlib import data, keras_runs, train_keras

    started = time.time()
    accel = jax.default_backend() != "cpu"
    profile = args.profile or ("paper" if accel else "cpu")
    d = data.prepare_data(data.load_fashion_mnist(), train_size=args.train_size or None)
    n_train = len(d["x_train"])
    cfg = train_keras.FitConfig(model="improved_cnn", epochs=args.epochs, batch_size=args.batch_size, lr=1e-3,
                                lr_end=1e-5, schedule="paper")
    runs, summary = [], {"device": str(jax.devices()[0].device_kind), "epochs": args.epochs,
                         "train_images": n_train, "seeds": args.seeds}

    def keep(path, r, run_seconds, **setting):
        h = r["history"]["seconds"]
        runs.append({"setting": {"path": path, "epochs": args.epochs, "train_images": n_train, **setting},
                     "seed": r["seed"], "metrics": {"run_seconds": run_seconds, "accuracy": r["metrics"]["accuracy"],
                                                    "seconds_per_epoch": float(h.iloc[1:].mean() if len(h) > 1 else h.iloc[0])},
                     "history": {"epoch_seconds": h.tolist()}})
        print(f"[bench_gpu_a] {path} seed {r['seed']}: {run_seconds:.1f} s, test accuracy "
              f"{r['metrics']['accuracy']:.2f}%", flush=True)

    def block(path, configs, **kw):
        t = time.perf_counter()
        done = keras_runs.run_many(d, configs, progress=False, **kw)
        return done, time.perf_counter() - t

    if "fast" in paths:
        times, t_block = [], time.perf_counter()
        for seed in range(args.fast_runs):
            if times and time.perf_counter() - t_block > args.max_seconds:
                break
            (r,), seconds = block("fast", [dataclasses.replace(cfg, seed=seed, fast_path=True)])
            times.append(seconds)
            keep("fast", r, seconds)
        summary.update(fast_runs=len(times), fast_block_seconds=time.perf_counter() - t_block,
                       fast_seconds_per_run=statistics.median(times),
                       fast_seconds_per_10_seeds=10 * statistics.median(times))
    for path in ("workers", "vmap"):
        if path not in paths:
            continue
        fast = True if path == "workers" else "vmap"
        configs = [dataclasses.replace(cfg, seed=s, fast_path=fast) for s in range(args.seeds)]
        done, seconds = block(path, configs, jobs=jobs if path == "workers" else 1)
        for r in done:
            keep(path, r, r["seconds"] if path == "workers" else seconds,
                 **({"jobs": jobs} if path == "workers" else {"members": args.seeds}))
        summary.update({f"{path}_runs": args.seeds, f"{path}_block_seconds": seconds,
                        f"{path}_seconds_per_run": seconds / args.seeds,
                        f"{path}_seconds_per_10_seeds": 10 * seconds / args.seeds})
    summary["mean_test_accuracy"] = statistics.mean(r["metrics"]["accuracy"] for r in runs)
    if "fast" in paths:
        for path in ("workers", "vmap"):
            if path in paths:
                summary[f"{path}_speedup_per_10_seeds"] = (summary["fast_seconds_per_10_seeds"]
                                                           / summary[f"{path}_seconds_per_10_seeds"])
    if args.default_epochs:
        t = time.perf_counter()
        res = train_keras.fit(d, dataclasses.replace(cfg, seed=0, epochs=args.default_epochs))
        h = res.history["seconds"]
        per_epoch = float(h.iloc[1:].mean() if len(h) > 1 else h.iloc[0])
        runs.append({"setting": {"path": "default", "epochs": args.default_epochs, "train_images": n_train},
                     "seed": 0, "metrics": {"run_seconds": time.perf_counter() - t, "seconds_per_epoch": per_epoch},
                     "history": {"epoch_seconds": h.tolist()}})
        summary["default_seconds_per_epoch"] = per_epoch
        if "fast" in paths:
            fast_epoch = statistics.median(r["metrics"]["seconds_per_epoch"] for r in runs
                                           if r["setting"]["path"] == "fast")
            summary.update(fast_seconds_per_epoch=fast_epoch, speedup_per_epoch=per_epoch / fast_epoch)
    params = {**{k: v for k, v in vars(args).items() if k != "results_dir"}, "jobs": jobs, "profile": profile}
    path = results.write_record("bench_gpu_a", params, runs, started=started, results_dir_=args.results_dir,
                                extras={"summary": summary,
                                        "goal": "one 50-epoch run <= 10 s; 10 seeds <= 30 s (one H100/H200)"})
    print(f"[bench_gpu_a] {args.epochs} epochs x {n_train} images on {summary['device']}:")
    for name in PATHS:
        if f"{name}_seconds_per_10_seeds" in summary:
            ratio = summary.get(f"{name}_speedup_per_10_seeds")
            print(f"  {name:8s} {summary[f'{name}_seconds_per_run']:8.1f} s per run  "
                  f"{summary[f'{name}_seconds_per_10_seeds']:8.1f} s per 10 seeds"
                  + (f"  {ratio:.2f}x faster than fast, one run at a time" if ratio else ""))
    print(f"[bench_gpu_a] wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
