"""Study A on a CPU: bf16 mixed precision against float32, paired over seeds (accuracy and time).

    nice -n 10 python benchmarks/bench_bf16_a.py                                   # 3 seeds, 3 epochs, 6,000 images
    python benchmarks/bench_bf16_a.py --seeds 0 --epochs 1 --train-size 500        # a check (one seed: no CI)

For each seed the improved CNN is trained twice with the paper setting (Adam, the ``paper`` schedule from 1e-3
to 1e-5, batch 128), once in float32 (the published runs) and once with Keras' ``mixed_bfloat16`` policy (bf16
compute, float32 weights; ``train_keras.fit(dtype_policy=...)``), on the same split, initial weights, data
order and dropout seeds. The comparison is paired over the seeds (``report.paired_difference``: the mean
difference and its t-based 95% CI): validation accuracy (the number a choice may use), the test accuracy
(measured once, after training) and seconds per epoch. bf16 is worth offering for the ``cpu`` profile only
if its validation-accuracy loss is shown to stay under ``--margin`` points (0.2): the CI's lower end above
-margin, and faster. A few epochs on a subset: the verdict is for that setting, not for 50 epochs.
Results: one record ``bench_bf16_a`` (profile ``cpu``) with the verdict in its extras.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

POLICIES = ("float32", "mixed_bfloat16")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--train-size", type=int, default=6000)
    p.add_argument("--backend", default="tensorflow", help="the Keras backend (the cpu profile's: tensorflow)")
    p.add_argument("--margin", type=float, default=0.2, help="accuracy points bf16 may lose and still be offered")
    p.add_argument("--profile", default="cpu")
    p.add_argument("--results-dir", default=None)
    args = p.parse_args(argv)
    if len(set(args.seeds)) != len(args.seeds) or any(s < 0 for s in args.seeds):
        p.error(f"--seeds takes distinct integers >= 0, got {args.seeds}.")
    if args.epochs < 1 or args.train_size < 10 or args.margin <= 0:
        p.error("need --epochs >= 1, --train-size >= 10, --margin > 0.")

    from fashionlib import files, results
    from fashionlib.backend import use_backend

    os.environ.setdefault("FASHIONLIB_GIT_COMMIT", files.git_commit())
    use_backend(args.backend)
    import pandas as pd

    from fashionlib import data, report, train_keras

    started = time.time()
    d = data.prepare_data(data.load_fashion_mnist(), train_size=args.train_size)
    cfg = train_keras.FitConfig(model="improved_cnn", epochs=args.epochs, batch_size=128, lr=1e-3, lr_end=1e-5)
    runs = []
    for seed in args.seeds:
        for policy in POLICIES:
            t = time.perf_counter()
            res = train_keras.fit(d, dataclasses.replace(cfg, seed=seed), dtype_policy=policy)
            seconds = time.perf_counter() - t
            mets, _ = train_keras.evaluate(res.model, d["x_test"], d["y_test"])
            h = res.history
            runs.append({"setting": {"dtype_policy": policy, "epochs": args.epochs, "train_images": len(d["x_train"]),
                                     "backend": args.backend},
                         "seed": seed,
                         "metrics": {"val_accuracy": 100 * float(h["val_accuracy"].iloc[-1]),
                                     "accuracy": mets["accuracy"], "run_seconds": seconds,
                                     "seconds_per_epoch": float(h["seconds"].iloc[1:].mean() if len(h) > 1
                                                                else h["seconds"].iloc[0])}})
            print(f"[bench_bf16_a] seed {seed} {policy}: validation {runs[-1]['metrics']['val_accuracy']:.2f}%, "
                  f"test {mets['accuracy']:.2f}%, {runs[-1]['metrics']['seconds_per_epoch']:.1f} s/epoch", flush=True)
    frame = pd.DataFrame([{"seed": r["seed"], **r["setting"], **r["metrics"], "profile": args.profile,
                           "device": "cpu", "commit": os.environ["FASHIONLIB_GIT_COMMIT"]} for r in runs])
    diffs = {m: report.paired_difference(frame, m, "dtype_policy", "mixed_bfloat16", "float32")
             for m in ("val_accuracy", "accuracy", "seconds_per_epoch")}
    val, speed = diffs["val_accuracy"], diffs["seconds_per_epoch"]
    keeps = val["n"] >= 3 and val["ci_low"] > -args.margin
    faster = speed["n"] >= 3 and speed["ci_high"] < 0
    verdict = ("offer bf16 for the cpu profile" if keeps and faster else
               f"do not offer bf16: {'fewer than 3 seeds' if val['n'] < 3 else ''}"
               f"{'' if val['n'] < 3 or keeps else f'validation accuracy may drop by more than {args.margin} points'}"
               f"{'' if val['n'] < 3 or not keeps or faster else 'not shown to be faster'}")
    summary = {m: {k: v for k, v in dv.items() if k in ("difference", "ci95", "ci_low", "ci_high", "n", "mean_a", "mean_b")}
               for m, dv in diffs.items()}
    for m, dv in summary.items():
        print(f"[bench_bf16_a] bf16 - float32, {m}: {dv['difference']:+.3f} (95% CI {dv['ci_low']:+.3f} to "
              f"{dv['ci_high']:+.3f}, {dv['n']} seeds)", flush=True)
    print(f"[bench_bf16_a] {verdict}")
    params = {**{k: v for k, v in vars(args).items() if k != "results_dir"}}
    path = results.write_record("bench_bf16_a", params, runs, started=started, results_dir_=args.results_dir,
                                extras={"paired_bf16_minus_float32": summary, "verdict": verdict,
                                        "margin_points": args.margin})
    print(f"[bench_bf16_a] wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
