"""Study A on the CPU against its plain peer: the project's training path vs a ~40-line Keras script.

    nice -n 10 python benchmarks/bench_peer_a.py --train-size 12000 --epochs 4 --rounds 3 \\
        --variants peer project project:spe=epoch

In one invocation, in alternating processes (round 1: every variant once, round 2: again, ...), it trains
the paper's network (Table 1, default reading) with

* ``peer``: ``benchmarks/peer_keras_a.py`` -- arrays, ``model.fit``, Keras' own shuffling, Adam with a
  per-step exponential decay (the shape of the project's ``paper`` schedule), no resume, no logging;
* ``project``: ``fashionlib.train_keras.fit`` as the notebooks call it (seeding and TensorFlow op
  determinism, per-epoch batch order and dropout seeds, ``BackupAndRestore``, the per-step learning-rate
  log, the atomic per-epoch history file), float32;
* ``project:<options>``: the same with speed levers, comma-separated: ``spe=N|epoch``
  (``steps_per_execution``), ``eval=N`` (validation batch), ``bf16`` (``dtype_policy="mixed_bfloat16"``),
  ``intra=N`` / ``inter=N`` (TensorFlow's thread pools, through ``TF_NUM_INTRAOP_THREADS`` /
  ``TF_NUM_INTEROP_THREADS``), ``nodet`` (TensorFlow op determinism off: only to measure what it costs),
  ``jit`` (XLA on the CPU, ``jit_compile=True``; implies ``nodet``, since Keras turns XLA off under op
  determinism). A variant that fails is recorded as failed; the others still run.

Both sides use the TensorFlow backend, batch 128, the same split and the same validation set, and are
timed the same way: an epoch runs from its start to the next epoch's start (validation, checkpoints and
logging included). The first epoch (tracing) is left out; "seconds per epoch" is the mean of the rest.
The ratio of a variant is the median over rounds of (variant / peer of the same round), for wall-clock
seconds and for the process's CPU seconds (``time.process_time``, all its threads): on a CPU shared with
other busy processes the wall clock mostly measures the others, CPU time much less so (it still moves
with cache and memory contention). The 1-minute load average is recorded before every process.
Results: one record ``bench_study_a_peer`` (one run per process; the summary in ``extras``).
Timing runs are short on purpose (``--train-size 12000``: a quarter of the paper's epoch) so that a shared
2-core machine can repeat them; ``--train-size 0`` uses all 48,000 images.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

WORKER_TAG = "BENCH_RESULT "
OPTION_KEYS = ("spe", "eval", "bf16", "intra", "inter", "nodet", "jit")


def parse_options(variant: str) -> dict:
    """``project:spe=epoch,eval=128`` -> {"spe": "epoch", "eval": "128"}; a clear error for anything else."""
    side, _, opts = variant.partition(":")
    if side not in ("peer", "project") or (side == "peer" and opts):
        raise ValueError(f"variant {variant!r}: use 'peer', 'project' or 'project:<options>' "
                         f"(options: {', '.join(OPTION_KEYS)}).")
    out = {}
    for item in filter(None, opts.split(",")):
        key, _, value = item.partition("=")
        if key not in OPTION_KEYS:
            raise ValueError(f"variant {variant!r}: unknown option {key!r}; choose from {', '.join(OPTION_KEYS)}.")
        out[key] = value or True
    return out


def fit_kwargs(opts: dict) -> dict:
    kw = {}
    if "spe" in opts:
        kw["steps_per_execution"] = opts["spe"] if opts["spe"] == "epoch" else int(opts["spe"])
    if "eval" in opts:
        kw["eval_batch_size"] = int(opts["eval"])
    if opts.get("bf16"):
        kw["dtype_policy"] = "mixed_bfloat16"
    return kw


def project_worker(args) -> None:
    """Runs in its own process: the project's path with the variant's options."""
    opts = parse_options(args.worker)
    from fashionlib.backend import use_backend

    use_backend("tensorflow")
    import keras

    from fashionlib import data, train_keras

    if opts.get("nodet") or opts.get("jit"):  # what op determinism costs / XLA (never project settings)
        train_keras.set_determinism = lambda seed: keras.utils.set_random_seed(int(seed))
    if opts.get("jit"):  # Keras turns XLA off while TensorFlow's op determinism is on, hence "nodet" too
        compile_model = train_keras.compile_model

        def compile_with_xla(model, *a, **kw):
            compile_model(model, *a, **kw)
            model.jit_compile = True
            return model

        train_keras.compile_model = compile_with_xla
    d = data.prepare_data(data.load_fashion_mnist(), train_size=args.train_size or None)

    class Clock(keras.callbacks.Callback):
        ticks: list = []
        cpu: list = []

        def on_epoch_begin(self, epoch, logs=None):
            self.ticks.append(time.perf_counter())
            self.cpu.append(time.process_time())

        def on_train_end(self, logs=None):
            self.ticks.append(time.perf_counter())
            self.cpu.append(time.process_time())

    cfg = train_keras.FitConfig(model="improved_cnn", epochs=args.epochs, batch_size=args.batch_size, lr=args.lr,
                                lr_end=args.lr_end, schedule="paper", seed=0)
    res = train_keras.fit(d, cfg, callbacks=[Clock()], **fit_kwargs(opts))
    seconds = [b - a for a, b in zip(Clock.ticks, Clock.ticks[1:])]
    cpu_seconds = [b - a for a, b in zip(Clock.cpu, Clock.cpu[1:])]
    print(WORKER_TAG + json.dumps({"epoch_seconds": seconds, "epoch_cpu_seconds": cpu_seconds,
                                   "n_train": len(d["x_train"]),
                                   "val_accuracy": res.history["val_accuracy"].tolist()}), flush=True)


def run_variant(variant: str, args) -> dict:
    opts = parse_options(variant)
    env = dict(os.environ, KERAS_BACKEND="tensorflow", TF_CPP_MIN_LOG_LEVEL="3", PYTHONPATH=str(REPO))
    if "intra" in opts:
        env["TF_NUM_INTRAOP_THREADS"] = str(opts["intra"])
    if "inter" in opts:
        env["TF_NUM_INTEROP_THREADS"] = str(opts["inter"])
    common = ["--epochs", str(args.epochs), "--batch-size", str(args.batch_size), "--lr", str(args.lr),
              "--lr-end", str(args.lr_end)]
    if variant == "peer":
        cmd = [sys.executable, str(REPO / "benchmarks" / "peer_keras_a.py"), *common,
               "--schedule-epochs", str(args.epochs)]
        if args.train_size:
            cmd += ["--train-size", str(args.train_size)]
    else:
        cmd = [sys.executable, __file__, "--worker", variant, *common, "--train-size", str(args.train_size)]
    load = os.getloadavg()[0]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=REPO)
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith(WORKER_TAG)]
    if proc.returncode != 0 or not lines:
        print(proc.stderr[-3000:], file=sys.stderr)
        return {"failed": f"exit {proc.returncode}: {proc.stderr.strip().splitlines()[-1:]}"}
    out = json.loads(lines[-1][len(WORKER_TAG):])
    steady = out["epoch_seconds"][1:] or out["epoch_seconds"]
    steady_cpu = out["epoch_cpu_seconds"][1:] or out["epoch_cpu_seconds"]
    out.update(seconds_per_epoch=statistics.mean(steady), cpu_seconds_per_epoch=statistics.mean(steady_cpu),
               load_1min_before=round(load, 2),
               load_1min_after=round(os.getloadavg()[0], 2))
    return out


def summarise(rows: list[dict], variants: list[str]) -> list[dict]:
    """Per variant: median seconds per epoch and the median over rounds of its ratio to that round's peer."""
    table = []
    for v in variants:
        mine = [r for r in rows if r["variant"] == v]
        row = {"variant": v, "rounds": len(mine)}
        for key, label in (("seconds_per_epoch", ""), ("cpu_seconds_per_epoch", "cpu_")):
            ratios = []
            for r in mine:
                peer = [p for p in rows if p["variant"] == "peer" and p["round"] == r["round"]]
                if peer:
                    ratios.append(r[key] / peer[0][key])
            row.update({f"{key}_median": round(statistics.median(x[key] for x in mine), 3),
                        f"{label}ratio_to_peer_median": round(statistics.median(ratios), 3) if ratios else None,
                        f"{label}ratio_to_peer_min": round(min(ratios), 3) if ratios else None,
                        f"{label}ratio_to_peer_max": round(max(ratios), 3) if ratios else None})
        row["load_1min_median"] = round(statistics.median(x["load_1min_before"] for x in mine), 2)
        table.append(row)
    return table


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--worker", help=argparse.SUPPRESS)
    p.add_argument("--variants", nargs="+", default=["peer", "project"])
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--epochs", type=int, default=4, help="epochs per process (the first is left out)")
    p.add_argument("--train-size", type=int, default=12_000, help="training images (0: all 48,000)")
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--lr", type=float, default=1e-3, help="the first learning rate")
    p.add_argument("--lr-end", type=float, default=1e-5)
    p.add_argument("--profile", default="cpu", help="results profile folder")
    p.add_argument("--results-dir", default=None, help="default: book/results")
    args = p.parse_args(argv)
    if args.worker:
        project_worker(args)
        return 0
    for v in args.variants:
        try:
            parse_options(v)
        except ValueError as exc:
            p.error(str(exc))
    if "peer" not in args.variants:
        p.error("--variants must include 'peer' (every ratio is taken to the peer of the same round).")
    if args.epochs < 2 or args.rounds < 1:
        p.error("need --epochs >= 2 (the first epoch is left out) and --rounds >= 1.")

    from fashionlib import files, results

    os.environ.setdefault("FASHIONLIB_GIT_COMMIT", files.git_commit())  # the code the run starts from
    started = time.time()
    rows, failed = [], []
    for rnd in range(args.rounds):
        order = args.variants if rnd % 2 == 0 else args.variants[::-1]  # alternate who goes first
        for v in order:
            row = {"variant": v, "round": rnd, **run_variant(v, args)}
            if "failed" in row:
                failed.append(row)
                print(f"[bench_peer_a] round {rnd} {v}: FAILED {row['failed']}", flush=True)
                continue
            rows.append(row)
            print(f"[bench_peer_a] round {rnd} {v}: {row['seconds_per_epoch']:.2f} s/epoch, "
                  f"{row['cpu_seconds_per_epoch']:.2f} CPU s/epoch "
                  f"(epochs {[round(s, 2) for s in row['epoch_seconds']]}, load {row['load_1min_before']})", flush=True)
    table = summarise(rows, [v for v in args.variants if any(r["variant"] == v for r in rows)])
    runs = [{"setting": {"variant": r["variant"], "round": r["round"], "train_images": r["n_train"],
                         "epochs": args.epochs, "batch_size": args.batch_size, "backend": "tensorflow"},
             "seed": 0,
             "metrics": {"seconds_per_epoch": r["seconds_per_epoch"], "first_epoch_s": r["epoch_seconds"][0],
                         "cpu_seconds_per_epoch": r["cpu_seconds_per_epoch"],
                         "val_accuracy_last": 100 * r["val_accuracy"][-1],
                         "load_1min_before": r["load_1min_before"], "load_1min_after": r["load_1min_after"]},
             "history": {"epoch_seconds": r["epoch_seconds"], "epoch_cpu_seconds": r["epoch_cpu_seconds"],
                         "val_accuracy": r["val_accuracy"]}} for r in rows]
    params = {k: v for k, v in vars(args).items() if k not in ("worker", "results_dir")}
    path = results.write_record("bench_study_a_peer", params, runs, started=started, results_dir_=args.results_dir,
                                extras={"summary": table, "failed": failed, "load_average_end": list(os.getloadavg()),
                                        "goal": "project / peer seconds per steady epoch <= 0.67 (float32)"})
    print(json.dumps(table, indent=1))
    print(f"[bench_peer_a] wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
