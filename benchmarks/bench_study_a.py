"""Study A benchmark: the improved CNN on each installed Keras backend, side by side.

    nice -n 10 .venv/bin/python benchmarks/bench_study_a.py [--max-epochs 12] [--profile cpu]

For each backend (TensorFlow, PyTorch, JAX where installed) a separate process trains the improved
CNN (Table 1, default reading) with the study's recipe (Adam, the paper's schedule from 1e-3 to 1e-5
over ``--schedule-epochs`` epochs, batch 128, the 48,000-image split) and, after every epoch,
evaluates the official test set. It reports:

* seconds per training epoch (mean over epochs after the first, which includes tracing/compilation,
  and the first epoch separately),
* training images per second,
* wall time from the start of training until the test accuracy first reaches 92.87% (the paper's
  headline), counting training and the per-epoch test evaluations, or "not reached" within
  ``--max-epochs`` / ``--max-seconds``.

The per-epoch test evaluation is a stopwatch, not model selection: nothing is tuned on it.
The machine's load average is recorded before and after each backend, since other processes
sharing the CPU slow every number here. Results: ``results.write_record(notebook="bench_study_a")``.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

WORKER_TAG = "BENCH_RESULT "


def worker(args) -> None:
    """Runs in its own process: one backend."""
    from fashionlib.backend import use_backend

    use_backend(args.worker)
    import keras
    import numpy as np

    from fashionlib import data, keras_callbacks, paper, train_keras

    target = paper.JICT_HEADLINE["test_accuracy"] / 100.0
    d = data.prepare_data(data.load_fashion_mnist(), train_size=args.train_size)
    monitor = keras_callbacks.TestAccuracyMonitor(d["x_test"], d["y_test"], target=target)

    class Budget(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            if epoch + 1 >= args.max_epochs or time.perf_counter() - monitor.t_start > args.max_seconds:
                self.model.stop_training = True

    t0 = time.perf_counter()
    cfg = train_keras.FitConfig(model="improved_cnn", epochs=args.schedule_epochs, batch_size=args.batch_size,
                                lr=args.lr, lr_end=args.lr_end, schedule="paper", seed=0)
    res = train_keras.fit(d, cfg, callbacks=[monitor, Budget()])
    h = res.history
    # training seconds per epoch: the epoch's wall time minus the validation pass and the test evaluation
    train_s = h["seconds"] - h["val_s"] - h["test_eval_s"]
    n_train = len(d["y_train"])
    steady = train_s.iloc[1:] if len(h) > 1 else train_s
    out = {
        "backend": keras.backend.backend(),
        "epochs_run": int(len(h)),
        "first_epoch_s": float(train_s.iloc[0]),
        "epoch_with_validation_s": float(h["seconds"].iloc[1:].mean() if len(h) > 1 else h["seconds"].iloc[0]),
        "seconds_per_epoch": float(steady.mean()),
        "train_images_per_s": float(n_train / steady.mean()),
        "test_accuracy_per_epoch": [round(100 * a, 3) for a in h["test_accuracy"]],
        "elapsed_s_per_epoch": [round(e, 2) for e in h["elapsed_s"]],
        "train_seconds_per_epoch": [round(float(x), 2) for x in train_s],
        "best_test_accuracy": float(100 * h["test_accuracy"].max()),
        "reached_target": monitor.reached_at is not None,
        "time_to_target_s": float(monitor.reached_at[1]) if monitor.reached_at else None,
        "epoch_reached": int(monitor.reached_at[0] + 1) if monitor.reached_at else None,
        "total_s": time.perf_counter() - t0,
        "n_train": n_train,
        "threads": os.cpu_count(),
    }
    print(WORKER_TAG + json.dumps(out), flush=True)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--worker", help=argparse.SUPPRESS)
    p.add_argument("--backends", nargs="*", default=None, help="default: every installed Keras backend")
    p.add_argument("--max-epochs", type=int, default=12)
    p.add_argument("--max-seconds", type=float, default=900.0, help="per backend, checked after each epoch")
    p.add_argument("--schedule-epochs", type=int, default=None,
                   help="epochs the schedule decays over (default: --max-epochs)")
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--lr", type=float, default=1e-3, help="the first learning rate")
    p.add_argument("--lr0", help=argparse.SUPPRESS)  # renamed: refused with a message naming --lr
    p.add_argument("--lr-end", type=float, default=1e-5)
    p.add_argument("--train-size", type=int, default=None, help="subsample (default: all 48,000)")
    p.add_argument("--omp-wait-policy", default="PASSIVE",
                   help="OMP_WAIT_POLICY for the torch worker ('' keeps the environment's); PASSIVE avoids "
                        "spinning threads that slow torch badly on a shared, busy CPU")
    p.add_argument("--profile", default="cpu", help="results profile folder (smoke / cpu / paper)")
    p.add_argument("--results-dir", default=None, help="default: book/results")
    args = p.parse_args()
    if args.lr0 is not None:
        p.error(f"--lr0 was renamed --lr; pass --lr {args.lr0}")
    args.schedule_epochs = args.schedule_epochs or args.max_epochs
    if args.worker:
        worker(args)
        return 0

    from fashionlib import files, results
    from fashionlib.backend import installed_backends
    from fashionlib.choices import KERAS_BACKENDS

    os.environ.setdefault("FASHIONLIB_GIT_COMMIT", files.git_commit())  # the code the run starts from

    started = time.time()
    backends = args.backends or installed_backends()
    bad = [b for b in backends if b not in KERAS_BACKENDS]
    if bad:
        p.error(f"unknown backend(s) {bad}; choose from {', '.join(KERAS_BACKENDS)}")
    rows, skipped = [], {b: "not installed" for b in KERAS_BACKENDS if b not in installed_backends()}
    for b in backends:
        if b in skipped:
            continue
        load_before = os.getloadavg()
        cmd = [sys.executable, __file__, "--worker", b, "--max-epochs", str(args.max_epochs),
               "--max-seconds", str(args.max_seconds), "--schedule-epochs", str(args.schedule_epochs),
               "--batch-size", str(args.batch_size), "--lr", str(args.lr), "--lr-end", str(args.lr_end)]
        if args.train_size:
            cmd += ["--train-size", str(args.train_size)]
        env = dict(os.environ, KERAS_BACKEND=b, TF_CPP_MIN_LOG_LEVEL="3")
        if b == "torch" and args.omp_wait_policy:
            env["OMP_WAIT_POLICY"] = args.omp_wait_policy
        print(f"[bench_study_a] {b} ...", flush=True)
        proc = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=REPO)
        lines = [ln for ln in proc.stdout.splitlines() if ln.startswith(WORKER_TAG)]
        if proc.returncode != 0 or not lines:
            skipped[b] = f"failed (exit {proc.returncode}): {proc.stderr.strip().splitlines()[-1:]}"
            print(proc.stderr[-3000:], file=sys.stderr)
            continue
        row = json.loads(lines[-1][len(WORKER_TAG):])
        row["load_avg_before"] = [round(x, 2) for x in load_before]
        row["omp_wait_policy"] = env.get("OMP_WAIT_POLICY")
        row["load_avg_after"] = [round(x, 2) for x in os.getloadavg()]
        rows.append(row)
        tt = f"{row['time_to_target_s']:.0f} s (epoch {row['epoch_reached']})" if row["reached_target"] else \
            f"not reached in {row['epochs_run']} epochs (best {row['best_test_accuracy']:.2f}%)"
        print(f"[bench_study_a] {b}: {row['seconds_per_epoch']:.1f} s/epoch, {row['train_images_per_s']:.0f} img/s, "
              f"92.87%: {tt}", flush=True)
    table = [{"backend": r["backend"], "seconds/epoch": round(r["seconds_per_epoch"], 1),
              "first epoch (s)": round(r["first_epoch_s"], 1),
              "train images/s": round(r["train_images_per_s"]),
              "time to 92.87% (s)": round(r["time_to_target_s"]) if r["reached_target"] else None,
              "epoch reached": r["epoch_reached"], "best test acc (%)": round(r["best_test_accuracy"], 2),
              "epochs run": r["epochs_run"], "load avg before": r["load_avg_before"][0]} for r in rows]
    params = {k: v for k, v in vars(args).items() if k not in ("worker", "results_dir", "lr0")}
    hist_keys = ("test_accuracy_per_epoch", "elapsed_s_per_epoch", "train_seconds_per_epoch")
    runs = [{"setting": {"backend": r["backend"], "train_images": r["n_train"], "batch_size": args.batch_size},
             "seed": 0,
             "metrics": {k: v for k, v in r.items() if k not in hist_keys and k not in ("backend", "n_train")
                         and not isinstance(v, (list, dict))},
             "history": {k: r[k] for k in hist_keys}} for r in rows]
    path = results.write_record("bench_study_a", params, runs, started=started, results_dir_=args.results_dir,
                                extras={"backends": table, "skipped": skipped,
                                        "load_avg_before": {r["backend"]: r["load_avg_before"] for r in rows},
                                        "goal": "time to 92.87% test accuracy <= 180 s on 2 CPU cores"})
    print(json.dumps(table, indent=1))
    print(f"[bench_study_a] wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
