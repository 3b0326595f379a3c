"""A6's protocols: its record runs (:func:`keras_runs.record_runs` plus what each protocol reports),
and each protocol's accuracies beside the paper's number.

A6 trains each reading of the improved CNN on the 48,000-image split (validation split, test set
evaluated after every epoch as a diagnostic) and on all 60,000 images (the test set as Keras'
per-epoch validation). Each run's record adds, besides its test metrics: its training set
(``protocol``, ``train_images``) to the setting; its last and best validation accuracy (48,000-image
runs only) and its best per-epoch test accuracy and epoch (``diagnostic_*``: never used to choose).
"""

from __future__ import annotations

import numpy as np

from . import keras_runs, report, train_keras


def _pct(series, pick) -> float | None:
    return None if series is None else float(100 * pick(np.asarray(series)))


def protocol_record_runs(finished: list[dict]) -> list[dict]:
    """Record runs of ``finished``: :func:`keras_runs.run_many` results, each with ``protocol`` and
    ``train_images`` added. Metrics: the test metrics, ``val_accuracy_final``, ``val_accuracy_best``,
    ``diagnostic_test_accuracy_best`` (percent), ``diagnostic_best_epoch`` (from 1), seconds per epoch,
    epochs run."""
    out = []
    for r, run in zip(finished, keras_runs.record_runs(finished)):
        h = r["history"]
        val = h["val_accuracy"] if "val_accuracy" in h else None
        diag = h[train_keras.DIAGNOSTIC_TEST_KEY]
        metrics = {**r["metrics"], "val_accuracy_final": _pct(val, lambda v: v[-1]),
                   "val_accuracy_best": _pct(val, np.max), "diagnostic_test_accuracy_best": _pct(diag, np.max),
                   "diagnostic_best_epoch": int(np.argmax(np.asarray(diag))) + 1,
                   "seconds_per_epoch": run["metrics"]["seconds_per_epoch"],
                   "epochs_run": run["metrics"]["epochs_run"]}
        out.append({**run, "setting": {**run["setting"], "protocol": r["protocol"], "train_images": r["train_images"]},
                    "metrics": metrics})
    return out


def by_protocol(frame, protocols: dict, readings: dict):
    """One row per (protocol, run): protocol label, reading, seed, accuracy.

    ``frame``: the record's runs (``results.runs_frame``); ``protocols``: label -> (training set, metric
    column), a run of that training set counting with that column's value; ``readings``: model -> the
    reading of Table 1 it implements.
    """
    import pandas as pd

    return pd.concat([frame[frame["protocol"] == tset].assign(protocol=label, reading=lambda f: f["model"].map(readings),
                                                              value=lambda f, c=col: f[c])
                      [["protocol", "reading", "seed", "value"]] for label, (tset, col) in protocols.items()],
                     ignore_index=True).rename(columns={"value": "accuracy"})


def compare_protocols(long, frame, protocols: dict, readings: dict, target: float, ks=(3, 5, 10)):
    """``(rows, luck)`` for each (protocol, reading) of :func:`by_protocol`'s ``long``, keyed
    ``"<protocol> | <reading>"``: ``rows``: :func:`report.compare` against ``target``; ``luck``: the share of
    runs at or above it, the normal fit's chance that one run reaches it, and the expected best of k runs."""
    rows, luck = {}, []
    for (label, reading), g in long.groupby(["protocol", "reading"], sort=False):
        runs_ = frame[(frame["protocol"] == protocols[label][0]) & (frame["model"].map(readings) == reading)]
        rows[f"{label} | {reading}"] = report.compare(g["accuracy"], target, runs_, digits=2)
        chance = report.chance_at_least(g["accuracy"], target)
        luck.append({"": f"{label} | {reading}", f"share of runs >= {target}": chance["empirical"],
                     f"P(one run >= {target}), normal fit": chance["normal"],
                     **{f"expected best of {k} (normal fit)": report.expected_best_of(g["accuracy"], k)["normal"]
                        for k in ks}})
    return rows, luck


def protocol_stats(rows: dict, luck: list[dict], target: float):
    """:func:`compare_protocols`' ``rows`` as a table, one row per ``"<protocol> | <reading>"``, with the 95% CI
    of each mean (``low``, ``high``) and ``chance``: the normal fit's chance that one run reaches ``target``."""
    import pandas as pd

    stats = pd.DataFrame(rows).T.assign(low=lambda t: t["mean"] - t["ci95"], high=lambda t: t["mean"] + t["ci95"])
    stats["chance"] = pd.DataFrame(luck).set_index("")[f"P(one run >= {target}), normal fit"]
    return stats
