"""Convert results records of the older per-notebook shapes to the one record schema (results.SCHEMA).

    python scripts/convert_records.py [RESULTS_DIR ...]      # default: book/results

Each record is rewritten in place (atomically) as ``{"schema", "provenance", "runs", "extras"}``:
one run per trained model, with the setting taken from the per-run entries and the run's parameters,
the metrics as they were recorded (accuracy in percent), the model file and the per-epoch history;
the last epoch's validation and training accuracy (percent) are read from that history, as
``keras_runs.record_runs`` does for new runs. Tables derived from the runs (means, stds, the
paper-vs-reproduced tables) are dropped: the book recomputes them from the runs. Benchmarks have no
runs; their tables move to extras. Numbers are copied, never recomputed, with one addition: A1's
per-run F1 of the Shirt class (a headline claim), which the old record kept only as a mean over seeds,
is measured by re-evaluating the committed models and checked against that mean.
Parameters renamed since a record was written (``rules.RENAMED``: ``lr0`` is now ``lr``) are
renamed in its provenance and run settings, and a study-A run's setting gains the
``train_keras.FitConfig`` fields it lacks with the defaults its run used (``momentum`` 0.0, ``validation`` "split",
``diagnostic_test`` False), so that
old and new runs read into the same columns. Records already in the current schema and names are left
alone, so running the script twice changes nothing.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from fashionlib import files, results, rules  # noqa: E402

FIT_KEYS = ("epochs", "batch_size", "lr", "lr_end", "schedule", "optimizer")
# FitConfig's fields and defaults (train_keras imports Keras; these are the defaults old runs used too)
FIT_DEFAULTS = {"model": None, "epochs": 50, "batch_size": 128, "lr": 1e-3, "lr_end": 1e-5, "schedule": "paper",
                "optimizer": "adam", "momentum": 0.0, "augment": False, "validation": "split", "diagnostic_test": False}
STUDY_A = ("a1_improved_cnn", "a2_models", "a3_batch_size", "a4_lr_schedules", "a5_closing_the_gap", "a6_protocol")
RUN_METRICS = ("accuracy", "loss", "auc_micro", "auc_macro", "seconds_per_epoch")


def _setting(params: dict, **override) -> dict:
    """The fit() keyword arguments of a run, in the order keras_runs.record_runs writes them."""
    params = rules.upgrade_parameters(params)
    st = {"model": None, "augment": False, **{k: params.get(k) for k in FIT_KEYS}}
    st.update(override)
    missing = [k for k, v in st.items() if v is None]
    if missing:
        raise SystemExit(f"no value for {missing} in the record's parameters or its per-run entries")
    return st


def _run(entry: dict, setting: dict, history: dict, model_file=None) -> dict:
    metrics = {k: entry[k] for k in RUN_METRICS}
    metrics["epochs_run"] = entry.get("epochs_run", len(history["epoch"]))
    metrics["val_accuracy"] = 100 * float(history["val_accuracy"][-1])
    metrics["train_accuracy"] = 100 * float(history["accuracy"][-1])
    return {"setting": setting, "seed": entry["seed"], "metrics": metrics, "model_file": model_file,
            "history": history}


def _shirt_f1(folder: Path, runs: list[dict], norm: dict) -> list[float]:
    """Per-run F1 of the Shirt class on the official test set, from the committed models."""
    from fashionlib import data, metrics, train_keras

    fm = data.load_fashion_mnist()
    x = ((fm.x_test.astype("float32") / 255.0 - norm["mean"]) / norm["std"])[..., None].astype("float32")
    out = []
    for run in runs:
        proba = train_keras.predict_proba(train_keras.load_model_safe(folder / run["model_file"]), x)
        acc = 100.0 * metrics.accuracy(fm.y_test, proba)
        if abs(acc - run["metrics"]["accuracy"]) > 1e-9:
            raise SystemExit(f"{run['model_file']}: re-evaluated accuracy {acc} != recorded "
                             f"{run['metrics']['accuracy']}; not converting.")
        out.append(float(metrics.classification_table(fm.y_test, proba).loc["Shirt", "f1"]))
    return out


def convert_a1(rec: dict, path: Path) -> tuple[list, dict]:
    m, params = rec["metrics"], rec["provenance"]["parameters"]
    runs = [_run(e, _setting(params, model=m["model"]), rec["history"][str(e["seed"])], e.get("model_file"))
            for e in m["per_seed"]]
    f1 = _shirt_f1(path.parent, runs, m["normalisation"])
    if abs(sum(f1) / len(f1) - m["table3"]["Shirt"]["f1"]) > 5e-5:  # table3 kept 4 decimals of the mean
        raise SystemExit(f"{path}: Shirt F1 per run {f1} does not average to table3's {m['table3']['Shirt']['f1']}")
    for run, value in zip(runs, f1):
        run["metrics"]["f1_shirt"] = value
    keep = ("table3", "normalisation", "n_train", "n_val", "n_test", "parameters_default_reading",
            "parameters_strided_reading")
    return runs, {**{k: m[k] for k in keep}, "lr_log_seed0": rec["lr_log_seed0"]}


def convert_a2(rec: dict, path: Path) -> tuple[list, dict]:
    m, params = rec["metrics"], rec["provenance"]["parameters"]
    runs = [_run(e, _setting(params, model=name), rec["history"][name][str(e["seed"])], e.get("model_file"))
            for name, per in m["per_model"].items() for e in per["per_seed"]]
    extras = {"table3_f1": m["table3_f1"], "normalisation": m["normalisation"], "n_train": m["n_train"],
              "parameters": {name: per["parameters"] for name, per in m["per_model"].items()}}
    return runs, extras


def convert_a5(rec: dict, path: Path) -> tuple[list, dict]:
    m, params = rec["metrics"], rec["provenance"]["parameters"]
    chosen = m["chosen"]
    chosen_files = chosen.get("model_files") or [Path(p).name for p in chosen.get("model_paths", [])]
    chosen_key = (chosen.get("model", params.get("model")), chosen["lr_end"], chosen["augment"])
    runs, k = [], 0
    for e in m["per_run"]:
        model = e.get("model", params.get("model"))
        hkey = (f"{model}_" if "model" in e else "") + f"{e['lr_end']:g}_{int(e['augment'])}"
        model_file = None
        if (model, e["lr_end"], e["augment"]) == chosen_key:  # the chosen setting's models, in seed order
            model_file, k = chosen_files[k], k + 1
        runs.append(_run(e, _setting(params, model=model, lr_end=e["lr_end"], augment=e["augment"]),
                         rec["history"][hkey][str(e["seed"])], model_file))
    if k != len(chosen_files):
        raise SystemExit(f"{path}: {len(chosen_files)} chosen model files but {k} chosen runs")
    extras = {"chosen": {"model": chosen_key[0], "lr_end": chosen_key[1], "augment": chosen_key[2]},
              "normalisation": m["normalisation"], "n_train": m["n_train"]}
    return runs, extras


def convert_bench(rec: dict, path: Path) -> tuple[list, dict]:
    return [], {**rec["metrics"], **{k: v for k, v in rec.items() if k not in ("provenance", "metrics")}}


CONVERTERS = {"a1_improved_cnn": convert_a1, "a2_models": convert_a2, "a5_closing_the_gap": convert_a5,
              "bench_study_a": convert_bench, "bench_study_b": convert_bench}


def upgrade_names(rec: dict) -> dict:
    """The record with renamed parameters under their new names and complete study-A settings."""
    prov = dict(rec["provenance"], parameters=rules.upgrade_parameters(rec["provenance"].get("parameters") or {}))
    runs = []
    for run in rec["runs"]:
        setting = rules.upgrade_parameters(run["setting"])
        if prov.get("notebook") in STUDY_A:
            setting = {**{k: v for k, v in FIT_DEFAULTS.items() if k not in setting and v is not None}, **setting}
        runs.append({**run, "setting": setting})
    return {**rec, "provenance": prov, "runs": runs}


def convert(path: Path) -> bool:
    """Rewrite one record in the current schema and names; False when it already is."""
    rec = json.loads(path.read_text())
    if rec.get("schema") == results.SCHEMA:
        new = upgrade_names(rec)
        if new == rec:
            return False
        files.atomic_write_text(path, json.dumps(new, indent=1) + "\n")
        return True
    nb = rec["provenance"]["notebook"]
    if nb not in CONVERTERS:
        raise SystemExit(f"{path}: no converter for notebook {nb!r}; re-run the notebook instead.")
    runs, extras = CONVERTERS[nb](rec, path)
    checked = [results._check_run(i, r) for i, r in enumerate(runs)]
    new = upgrade_names({"schema": results.SCHEMA, "provenance": rec["provenance"], "runs": checked, "extras": extras})
    files.atomic_write_text(path, json.dumps(new, indent=1) + "\n")
    return True


def main(argv: list[str]) -> int:
    roots = [Path(a) for a in argv] or [REPO / "book" / "results"]
    for root in roots:
        for path in sorted(root.glob("*/*/*.json")):
            print(("converted " if convert(path) else "unchanged ") + str(path.relative_to(root)))
        results.runs_frame(results_dir_=root, latest_only=False)  # every record now reads through the one reader
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
