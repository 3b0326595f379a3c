"""The learning-rate schedules: closed forms, the [1e-8, 0.1] range, names, bad inputs, the logger."""

import math

import numpy as np
import pytest

keras = pytest.importorskip("keras")

from fashionlib import choices, schedules  # noqa: E402
from fashionlib.schedules import PaperExponentialDecay, make_schedule, paper_lr, schedule_value  # noqa: E402

SPE, EPOCHS = 375, 50  # the paper's 375 batches per epoch, 50 epochs


@pytest.mark.parametrize("step", [0, 1, 374, 375, 3750, 9375, 18749])
def test_paper_schedule_matches_closed_form(step):
    s = make_schedule("paper", lr0=0.1, steps_per_epoch=SPE, epochs=EPOCHS, lr_end=1e-5)
    rate = (1e-5 / 0.1) ** (1 / EPOCHS)
    expected = 0.1 * rate ** (step / SPE)
    assert schedule_value(s, step) == pytest.approx(expected, rel=1e-5)
    assert schedule_value(s, step) == pytest.approx(paper_lr(step, 0.1, rate, SPE), rel=1e-5)


def test_paper_schedule_starts_at_lr0_and_reaches_lr_end():
    s = make_schedule("paper", lr0=0.1, steps_per_epoch=SPE, epochs=EPOCHS, lr_end=1e-5)
    assert schedule_value(s, 0) == pytest.approx(0.1, rel=1e-6)
    assert schedule_value(s, SPE * EPOCHS) == pytest.approx(1e-5, rel=1e-4)


@pytest.mark.parametrize("lr_end", [1e-5, 1e-8])
def test_paper_schedule_stays_in_paper_range(lr_end):
    s = make_schedule("paper", lr0=0.1, steps_per_epoch=SPE, epochs=EPOCHS, lr_end=lr_end)
    steps = np.arange(0, 4 * SPE * EPOCHS, 97)  # far past the end of training too
    values = np.array([schedule_value(s, int(t)) for t in steps[::25]])
    assert values.max() <= 0.1 * (1 + 1e-6)
    assert values.min() >= 1e-8 * (1 - 1e-6)
    assert np.all(np.diff(values) <= 0)


def test_clip_binds_at_both_ends():
    s = PaperExponentialDecay(initial_learning_rate=0.5, decay_steps=10, decay_rate=0.01, min_lr=1e-8, max_lr=0.1)
    assert schedule_value(s, 0) == pytest.approx(0.1)            # 0.5 clipped to the ceiling
    assert schedule_value(s, 10_000) == pytest.approx(1e-8)      # far below the floor


def test_literal_reading_reaches_floor_at_end():
    s = make_schedule("paper", lr0=0.1, steps_per_epoch=SPE, epochs=EPOCHS, lr_end=1e-8)
    assert schedule_value(s, SPE * EPOCHS) == pytest.approx(1e-8, rel=1e-3)
    # passes 0.01 after 1/7 of training: 7 decades over 50 epochs
    assert schedule_value(s, int(SPE * EPOCHS / 7)) == pytest.approx(0.01, rel=1e-3)


@pytest.mark.parametrize("name", choices.SCHEDULES)
def test_each_schedule_builds_and_starts_at_lr0(name):
    s = make_schedule(name, lr0=0.001, steps_per_epoch=10, epochs=5, lr_end=1e-5)
    assert schedule_value(s, 0) == pytest.approx(0.001, rel=1e-5)
    end = schedule_value(s, 50)
    if name == "constant":
        assert end == pytest.approx(0.001)
    else:
        assert end == pytest.approx(1e-5, rel=1e-3)


def test_inverse_time_is_papers_formula():
    s = make_schedule("inverse_time", lr0=0.1, steps_per_epoch=SPE, epochs=EPOCHS, lr_end=1e-3)
    k = (0.1 / 1e-3 - 1) / EPOCHS
    for t in (0, SPE, 7 * SPE + 5):
        assert schedule_value(s, t) == pytest.approx(0.1 / (1 + k * t / SPE), rel=1e-5)


def test_get_config_roundtrip():
    s = make_schedule("paper", lr0=0.1, steps_per_epoch=SPE, epochs=EPOCHS)
    s2 = PaperExponentialDecay.from_config(s.get_config())
    assert s2.get_config() == s.get_config()
    assert keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(s)).get_config() == s.get_config()


@pytest.mark.parametrize("kwargs,message", [
    ({"lr0": 0}, r"lr0 must be a number > 0, got 0\."),
    ({"lr0": -1.0}, r"lr0 must be a number > 0, got -1\.0\."),
    ({"lr0": float("nan")}, r"lr0 must be a number > 0, got nan\."),
    ({"epochs": 0}, r"steps_per_epoch and epochs must be >= 1, got 375, 0\."),
    ({"steps_per_epoch": 0}, r"steps_per_epoch and epochs must be >= 1, got 0, 50\."),
    ({"lr_end": 1.0}, r"lr_end must be in \(0, lr0=0\.1\], got 1\.0\."),
])
def test_bad_schedule_settings(kwargs, message):
    """Each bad setting is refused with a message naming the parameter, its limit and the value given."""
    with pytest.raises(ValueError, match=message):
        make_schedule("paper", **{"lr0": 0.1, "steps_per_epoch": SPE, "epochs": EPOCHS, **kwargs})


def test_logger_records_rate_used_at_each_step():
    x = np.zeros((20, 3), "float32")
    y = np.zeros((20,), "int32")
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    sched = make_schedule("paper", lr0=0.1, steps_per_epoch=5, epochs=2, lr_end=1e-3)
    model.compile(keras.optimizers.Adam(sched), "sparse_categorical_crossentropy")
    log = schedules.LearningRateLogger()
    model.fit(x, y, batch_size=4, epochs=2, verbose=0, callbacks=[log])
    assert log.steps == list(range(10))
    rate = (1e-3 / 0.1) ** (1 / 2)
    assert log.rates == pytest.approx([0.1 * rate ** (t / 5) for t in range(10)], rel=1e-5)
    assert not math.isnan(log.as_frame()["learning_rate"].sum())


@pytest.mark.parametrize("name", ["paper", "exponential", "inverse_time", "cosine", "constant"])
def test_logger_continues_the_optimizers_count_on_a_second_fit(name):
    """A resumed run starts at the optimizer's iteration, and every schedule's rate equals the optimizer's."""
    x = np.zeros((20, 3), "float32")
    y = np.zeros((20,), "int32")
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    sched = make_schedule(name, lr0=0.01, steps_per_epoch=5, epochs=2, lr_end=1e-4)
    model.compile(keras.optimizers.Adam(sched), "sparse_categorical_crossentropy")
    model.fit(x, y, batch_size=4, epochs=1, verbose=0)
    log = schedules.LearningRateLogger()
    model.fit(x, y, batch_size=4, epochs=1, verbose=0, callbacks=[log])
    assert log.steps == list(range(5, 10))
    assert log.rates == pytest.approx([schedule_value(sched, t) for t in range(5, 10)], rel=1e-6)
    assert schedule_value(sched, 10) == pytest.approx(
        float(keras.ops.convert_to_numpy(model.optimizer.learning_rate)), rel=1e-6)
