"""The committed paper-profile models of study A: reloading each .keras file (safe mode) and evaluating it
on the official test set gives the accuracy its results record states: exactly for a model trained on a
CPU, and within 0.05 points (5 of 10,000 images) for one trained on a GPU, whose float32 matrix products
use TF32 (a 10-bit mantissa) by default, so that a few near-tie predictions can flip on a CPU."""

from pathlib import Path

import numpy as np
import pytest

keras = pytest.importorskip("keras")

from fashionlib import metrics, results, train_keras  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
PAPER_RESULTS = REPO / "book" / "results"


def _tolerance(rec) -> float:
    """Accuracy points allowed between the record and a CPU re-evaluation (see the module docstring)."""
    return 1e-9 if rec["provenance"]["device"].get("accelerator", "cpu") == "cpu" else 0.05


def _committed():
    cases = []
    for nb in ("a1_improved_cnn", "a2_models"):
        for rec in results.load_records(nb, "paper", PAPER_RESULTS):
            m = rec["metrics"]
            groups = [m["per_seed"]] if "per_seed" in m else [v["per_seed"] for v in m.get("per_model", {}).values()]
            for runs in groups:
                for run in runs:
                    if run.get("model_file"):
                        cases.append((Path(rec["_path"]).parent / run["model_file"], run["accuracy"],
                                      m["normalisation"], _tolerance(rec)))
    for rec in results.load_records("a5_closing_the_gap", "paper", PAPER_RESULTS):
        m = rec["metrics"]  # the chosen setting's models, one per seed, in seed order
        files = m["chosen"].get("model_files") or [Path(p).name for p in m["chosen"].get("model_paths", [])]
        for name, acc in zip(files, m["chosen"]["test_accuracy_per_seed"]):
            cases.append((Path(rec["_path"]).parent / name, acc, m["normalisation"], _tolerance(rec)))
    return cases


CASES = _committed()


@pytest.mark.slow
@pytest.mark.skipif(not CASES, reason="no committed paper-profile models yet (run the a1/a2 paper profile)")
@pytest.mark.parametrize("path,recorded,norm,tolerance", CASES, ids=[c[0].name for c in CASES] or None)
def test_saved_model_reproduces_recorded_accuracy(path, recorded, norm, tolerance, fmnist):
    model = train_keras.load_model_safe(path)
    x = ((fmnist.x_test.astype("float32") / 255.0 - norm["mean"]) / norm["std"])[..., None].astype("float32")
    acc = 100.0 * metrics.accuracy(fmnist.y_test, train_keras.predict_proba(model, x))
    assert acc == pytest.approx(recorded, abs=tolerance)
    assert path.stat().st_size < 10 * 2**20  # "a few MB"
