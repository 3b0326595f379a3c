"""saved_models.recheck: a saved model re-evaluated on normalised test images gives its recorded accuracy."""

from types import SimpleNamespace

import numpy as np
import pytest

keras = pytest.importorskip("keras")

from fashionlib import data, keras_models, saved_models, train_keras  # noqa: E402


def test_recheck_equals_the_accuracy_of_the_normalised_inputs(tmp_path):
    rng = np.random.default_rng(0)
    fm = SimpleNamespace(x_test=rng.integers(0, 256, (40, 28, 28), dtype=np.uint8),
                         y_test=rng.integers(0, 10, 40).astype(np.int32))
    keras.utils.set_random_seed(0)
    model = keras_models.build_model("cnn")
    path = train_keras.save_model_atomic(train_keras.inference_copy(model, "cnn"), tmp_path / "m.keras")
    mean, std = 0.3, 0.35
    proba = train_keras.predict_proba(model, data.normalise(fm.x_test, mean, std))
    expected = 100.0 * float(np.mean(np.argmax(proba, axis=1) == fm.y_test))
    row = saved_models.recheck(path, fm, mean, std, expected)
    assert row == {"model file": "m.keras", "recorded accuracy": expected, "re-evaluated accuracy": expected,
                   "equal": True}
    assert not saved_models.recheck(path, fm, mean, std, expected + 0.01)["equal"]
