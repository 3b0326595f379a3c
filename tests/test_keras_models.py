"""Study A models: Table 1 shapes and parameter counts, every model on every installed Keras backend."""

import importlib.util
import json
import os
import subprocess
import sys
import textwrap

import pytest

keras = pytest.importorskip("keras")

from fashionlib import keras_models as km  # noqa: E402
from fashionlib import choices, paper  # noqa: E402
from fashionlib.backend import BackendError, use_backend  # noqa: E402

# Table 1's output-size column, C1 .. C4 and the pooling layers (the default reading reproduces it).
TABLE1_OUTPUTS = {row["layer"]: row["output"] for row in paper.JICT_TABLE1 if row["layer"] in
                  ("C1", "M1", "C2", "M2", "C3", "C4")}


def test_improved_cnn_matches_table1_output_column():
    model = km.build_model("improved_cnn")
    table = km.layer_table(model).set_index("layer")
    for name, shape in TABLE1_OUTPUTS.items():
        assert table.loc[name, "output"] == shape, name
    assert model.count_params() == 487_818  # hand count: 320+18496+73856+295168+65792+32896+1290
    assert table.loc["FC1", "output"] == (256,) and table.loc["FC2", "output"] == (128,)
    assert table.loc["O", "output"] == (10,)
    # dropout column: 0.25 after M1 and M2, 0.5 after C4 and FC2
    rates = dict(zip(table.index, table["dropout"]))
    assert [rates[k] for k in ("M1_dropout", "M2_dropout", "C4_dropout", "FC2_dropout")] == [0.25, 0.25, 0.5, 0.5]


def test_strided_reading_uses_table1_stride_column():
    model = km.build_model("improved_cnn_strided")
    table = km.layer_table(model).set_index("layer")
    strides = {row["layer"]: row["stride"] for row in paper.JICT_TABLE1 if row["stride"] is not None}
    for name, s in strides.items():
        assert table.loc[name, "strides"] == (s, s), name
    assert [table.loc[n, "output"] for n in ("C1", "M1", "C2", "M2", "C3", "C4")] == [
        (26, 26, 32), (25, 25, 32), (13, 13, 64), (6, 6, 64), (3, 3, 128), (2, 2, 256)]
    assert model.count_params() == 684_426


@pytest.mark.parametrize("name,params", [("cnn", 34_826), ("lenet5", 61_706), ("lstm", 81_674),
                                         ("bilstm", 163_338)])
def test_baseline_parameter_counts(name, params):
    model = km.build_model(name)
    assert model.count_params() == params
    assert tuple(model.outputs[0].shape) == (None, 10)


def test_unknown_model_lists_options():
    with pytest.raises(ValueError, match="unknown model 'resnet'.*'improved_cnn'.*'bilstm'"):
        km.build_model("resnet")


def test_unknown_backend_is_a_clear_error():
    with pytest.raises(BackendError, match="unknown Keras backend 'theano'.*'tensorflow'"):
        use_backend("theano")


def test_backend_cannot_change_after_keras_import():
    other = "torch" if keras.backend.backend() != "torch" else "tensorflow"
    if importlib.util.find_spec(other) is None:
        pytest.skip(f"{other} not installed")
    with pytest.raises(BackendError, match="already imported"):
        use_backend(other)


SCRIPT = textwrap.dedent("""
    import json, sys
    import numpy as np
    from fashionlib.backend import use_backend
    use_backend(sys.argv[1])
    import keras
    from fashionlib import choices, keras_models as km
    keras.utils.set_random_seed(0)
    x = np.random.default_rng(0).normal(size=(8, 28, 28, 1)).astype("float32")
    y = np.arange(8, dtype="int32") % 10
    out = {}
    for name in choices.KERAS_MODELS:
        m = km.build_model(name)
        m.compile(keras.optimizers.Adam(1e-3), "sparse_categorical_crossentropy")
        before = [w.copy() for w in m.get_weights()]
        loss = m.train_on_batch(x, y)
        changed = any(not np.array_equal(a, b) for a, b in zip(before, m.get_weights()))
        p = np.asarray(m.predict(x, verbose=0))
        out[name] = {"params": m.count_params(), "shape": list(p.shape), "changed": changed,
                     "finite": bool(np.isfinite(loss)), "sum1": bool(np.allclose(p.sum(1), 1, atol=1e-5))}
    out["_backend"] = keras.backend.backend()
    print("RESULT" + json.dumps(out))
""")


@pytest.mark.slow
@pytest.mark.parametrize("backend", choices.KERAS_BACKENDS)
def test_every_model_trains_one_step_on_backend(backend, tmp_path):
    module = {"tensorflow": "tensorflow", "torch": "torch", "jax": "jax"}[backend]
    if importlib.util.find_spec(module) is None:
        pytest.skip(f"Keras backend {backend!r} not testable here: Python package {module!r} is not installed")
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", KERAS_BACKEND=backend)
    proc = subprocess.run([sys.executable, "-c", SCRIPT, backend], capture_output=True, text=True, env=env,
                          timeout=300, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    line = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT")][-1]
    out = json.loads(line[len("RESULT"):])
    assert out.pop("_backend") == backend
    expected = {name: km.build_model(name).count_params() for name in choices.KERAS_MODELS}
    for name, res in out.items():
        assert res["params"] == expected[name], name
        assert res["shape"] == [8, 10] and res["changed"] and res["finite"] and res["sum1"], (name, res)


def test_augmentation_wrapper_adds_no_parameters_and_is_inactive_at_inference():
    import numpy as np

    base = km.build_model("improved_cnn")
    aug = km.build_model("improved_cnn", augment=True)
    assert aug.count_params() == base.count_params()
    inner = aug.layers[-1]
    inner.set_weights(base.get_weights())
    x = np.random.default_rng(0).normal(size=(4, 28, 28, 1)).astype("float32")
    np.testing.assert_allclose(aug.predict(x, verbose=0), base.predict(x, verbose=0), rtol=1e-6)
