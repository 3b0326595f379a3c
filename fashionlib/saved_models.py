"""Re-evaluating a saved Keras model on the Fashion-MNIST test set, against the accuracy it recorded.

A saved model is a ``.keras`` file (loaded with ``safe_mode=True``); its inputs are the test images
normalised with the statistics of the training set it was trained on (``data.normalise``), so the
re-evaluated accuracy equals the recorded one on the same device.
"""

from __future__ import annotations

from pathlib import Path

from . import data, metrics, train_keras


def recheck(path: str | Path, fm, mean: float, std: float, recorded: float) -> dict:
    """One row: the model file, its recorded and re-evaluated test accuracy (percent), and whether they
    are equal (to 1e-9 points). ``fm``: the Fashion-MNIST arrays; ``mean``, ``std``: its training set's."""
    model = train_keras.load_model_safe(path)
    acc = 100.0 * metrics.accuracy(fm.y_test, train_keras.predict_proba(model, data.normalise(fm.x_test, mean, std)))
    return {"model file": Path(path).name, "recorded accuracy": recorded, "re-evaluated accuracy": acc,
            "equal": abs(acc - recorded) < 1e-9}
