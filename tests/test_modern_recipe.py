"""The modern recipe of fit (a7 notebook): crop + flip batches, label smoothing, AdamW + cosine, EMA,
test-time flip; bad inputs refused before any work; the default (paper) path's numbers unchanged."""

import math

import numpy as np
import pytest

keras = pytest.importorskip("keras")

from fashionlib import data, keras_batches, keras_runs, train_keras  # noqa: E402
from fashionlib.rules import ParameterError  # noqa: E402
from fashionlib.train_keras import FitConfig  # noqa: E402


@pytest.fixture(scope="module")
def tiny(fmnist):
    return data.prepare_data(fmnist, train_size=300)


def test_default_path_numbers_unchanged(tiny):
    # Pinned from main before the modern recipe existed (TensorFlow, deterministic ops, 300 images, seed 0).
    res = train_keras.fit(tiny, FitConfig(epochs=1, batch_size=32, seed=0))
    row = res.history.iloc[0]
    assert math.isclose(row["loss"], 2.3064231872558594, rel_tol=1e-4)
    assert math.isclose(row["val_loss"], 2.2813894748687744, rel_tol=1e-4)
    assert math.isclose(sum(float(np.abs(w).sum()) for w in res.model.get_weights()), 14834.8818359375, rel_tol=1e-4)
    assert type(res.model.optimizer).__name__ == "Adam" and not res.model.optimizer.use_ema
    assert not {"recipe", "label_smoothing", "weight_decay", "warmup_epochs", "ema_momentum"} & set(res.params)


def test_modern_fit_trains_with_adamw_ema_and_label_smoothing(tiny):
    res = train_keras.fit(tiny, FitConfig(epochs=2, batch_size=32, seed=0, recipe="modern", warmup_epochs=1,
                                          ema_momentum=0.9))
    opt = res.model.optimizer
    assert type(opt).__name__ == "AdamW" and opt.use_ema and math.isclose(float(opt.ema_momentum), 0.9)
    assert math.isclose(res.model.loss.get_config()["label_smoothing"], 0.1)  # MODERN_DEFAULTS
    assert res.params["recipe"] == "modern" and res.params["weight_decay"] == 0.05
    # fit leaves the averaged (EMA) weights in the model
    for v, avg in zip(res.model.trainable_variables, opt._model_variables_moving_average):
        np.testing.assert_array_equal(np.asarray(v), np.asarray(avg))
    assert len(res.history) == 2 and np.isfinite(res.history["loss"]).all()
    lr = res.lr_log["learning_rate"].to_numpy()
    assert lr.argmax() == len(lr) // 2 - 1 or lr.argmax() == len(lr) // 2  # warm-up for one epoch, then cosine
    assert lr[-1] < lr.max() / 10


def test_crop_flip_batches_are_shifted_or_mirrored_copies_and_repeat_per_epoch():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(16, 6, 6, 1)).astype(np.float32)
    y = np.arange(16)
    b = keras_batches.CropFlipBatches(x, y, batch_size=8, seed=3, pad=2, fill=-9.0)
    xb, yb = b[1]
    again = keras_batches.CropFlipBatches(x, y, batch_size=8, seed=3, pad=2, fill=-9.0)[1][0]
    np.testing.assert_array_equal(xb, again)  # a function of (seed, epoch, batch): resume-safe
    padded = np.pad(x, ((0, 0), (2, 2), (2, 2), (0, 0)), constant_values=-9.0)
    flipped = 0
    for img, label in zip(xb, yb):
        crops = {(dy, dx, f): padded[label, dy:dy + 6, dx:dx + 6][:, ::-1] if f else padded[label, dy:dy + 6, dx:dx + 6]
                 for dy in range(5) for dx in range(5) for f in (0, 1)}
        match = [k for k, c in crops.items() if np.array_equal(c, img)]
        assert match, "an augmented image is not a 2-pixel crop (or its mirror) of its own original"
        flipped += all(k[2] for k in match)
    assert 0 < flipped < 8
    b.set_epoch(1)
    assert not np.array_equal(b[1][0], xb)


def test_test_time_flip_averages_the_probabilities_of_both_mirror_images():
    net = keras.Sequential([keras.Input((1, 2, 1)), keras.layers.Flatten(), keras.layers.Dense(2, activation="softmax")])
    net.layers[-1].set_weights([np.array([[math.log(3), 0.0], [0.0, 0.0]]), np.zeros(2)])
    x = np.array([[1.0, 0.0]], dtype=np.float32).reshape(1, 1, 2, 1)
    np.testing.assert_allclose(train_keras.predict_proba(net, x), [[0.75, 0.25]], atol=1e-6)
    # mirrored image: logits (0, 0) -> (1/2, 1/2); mean with (3/4, 1/4) = (5/8, 3/8)
    np.testing.assert_allclose(train_keras.predict_proba(net, x, flip=True), [[0.625, 0.375]], atol=1e-6)


def test_run_many_modern_reads_validation_and_leaves_test_unread_when_asked(tiny):
    runs = keras_runs.run_many(tiny, [FitConfig(recipe="modern", epochs=1, warmup_epochs=0, batch_size=64)],
                                progress=False, test_eval=False)
    r = runs[0]
    assert r["metrics"] == {} and r["proba"] is None
    assert 0 <= r["val_metrics"]["accuracy"] <= 100
    rec = keras_runs.record_runs(runs)[0]
    assert rec["metrics"]["val_accuracy_eval"] == r["val_metrics"]["accuracy"]
    mets, _ = train_keras.evaluate(r["model"], tiny["x_test"], tiny["y_test"], flip=True)
    assert 0 <= mets["accuracy"] <= 100


@pytest.mark.parametrize("kwargs, words", [
    (dict(recipe="fancy"), "'recipe' must be one of"),
    (dict(label_smoothing=0.1), "would be ignored with recipe='paper'"),
    (dict(recipe="modern", schedule="cosine"), "schedule='cosine' would be ignored"),
    (dict(recipe="modern", augment=True), "augment=True would be ignored"),
    (dict(recipe="modern", label_smoothing=1.5), "'label_smoothing' must be"),
    (dict(recipe="modern", ema_momentum=1.0), "'ema_momentum' must be"),
    (dict(recipe="modern", warmup_epochs=-1), "'warmup_epochs' must be"),
    (dict(recipe="modern", warmup_epochs=1), "leaves no epoch for the cosine decay"),
])
def test_bad_recipe_inputs_are_refused_before_any_work(kwargs, words):
    with pytest.raises(ParameterError, match=words.replace("(", r"\(").replace(")", r"\)")):
        FitConfig(epochs=1, **kwargs)  # the configuration itself: nothing can train with it


def test_bad_flip_and_test_eval_are_refused(tiny):
    with pytest.raises(ValueError, match="flip must be True or False"):
        train_keras.predict_proba(None, tiny["x_val"], flip="yes")
    with pytest.raises(ValueError, match="test_eval must be True or False"):
        keras_runs.run_many(tiny, [FitConfig(epochs=1)], progress=False, test_eval="no")
    with pytest.raises(ValueError, match=r"device_data=True \(or fast_path=True\) is not supported with recipe='modern'"):
        train_keras.fit(tiny, FitConfig(epochs=2, recipe="modern"), device_data=True)
