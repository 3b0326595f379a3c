"""Choose the Keras backend (TensorFlow, PyTorch or JAX) before Keras is imported.

Keras reads ``KERAS_BACKEND`` once, at its first import, so the choice has to be made first::

    from fashionlib.backend import use_backend
    use_backend("torch")          # then import keras / fashionlib.keras_models / train_keras
"""

from __future__ import annotations

import importlib.util
import os
import sys
import time

from .choices import KERAS_BACKENDS
from .parameters_cell import validate

_MODULE = {"tensorflow": "tensorflow", "torch": "torch", "jax": "jax"}


class BackendError(ValueError):
    """An unknown, uninstalled or too-late Keras backend choice."""


def installed_backends() -> list[str]:
    """The Keras backends whose library is importable here."""
    return [b for b in KERAS_BACKENDS if importlib.util.find_spec(_MODULE[b]) is not None]


def use_backend(name: str) -> str:
    """Set ``KERAS_BACKEND`` to ``name`` after checking it; returns ``name``.

    Raises :class:`BackendError` for an unknown name, a backend whose library is not installed,
    or when Keras is already imported with another backend (restart the kernel/process).
    """
    if name not in KERAS_BACKENDS:
        raise BackendError(f"unknown Keras backend {name!r} (parameter 'backend'); choose one of "
                           f"{', '.join(map(repr, KERAS_BACKENDS))}.")
    if importlib.util.find_spec(_MODULE[name]) is None:
        raise BackendError(f"Keras backend {name!r} needs the Python package {_MODULE[name]!r}, which is "
                           f"not installed; install it or pick one of {', '.join(installed_backends())}.")
    if "keras" in sys.modules:
        current = sys.modules["keras"].backend.backend()
        if current != name:
            raise BackendError(f"Keras is already imported with backend {current!r}; the backend can only "
                               f"be chosen before the first 'import keras'. Restart the kernel and set "
                               f"backend = {name!r} first.")
    quiet_tensorflow()
    if name == "torch":
        # PyTorch's OpenMP threads spin while waiting, which slows training badly on a CPU shared with
        # other busy processes; passive waiting costs little when the machine is idle. Only a default:
        # an explicit setting wins.
        os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    os.environ["KERAS_BACKEND"] = name
    return name


def torch_before_tensorflow() -> None:
    """Import torch ahead of TensorFlow when both are installed and TensorFlow is not loaded yet.

    In one process, TensorFlow imported first can make a later torch/timm import crash while loading
    triton's native library (the test session and the bad-input catalogue use both); torch and triton
    first, then TensorFlow, works. Called by the modules that import Keras.
    """
    if os.environ.get("KERAS_BACKEND", "tensorflow") != "tensorflow" or "tensorflow" in sys.modules:
        return
    if importlib.util.find_spec("torch") is not None:
        import torch  # noqa: F401
    if importlib.util.find_spec("triton") is not None:  # the library that crashes (CUDA builds of torch)
        import triton  # noqa: F401


def start_keras_notebook(notebook: str, namespace: dict) -> tuple[dict, float]:
    """The first step of every study-A notebook, in one call: note the start time, check the notebook's
    parameters (:func:`fashionlib.parameters_cell.validate`, reading its own ``parameters`` cell), quiet
    TensorFlow and select the Keras backend named by its ``backend`` parameter before Keras is
    imported, then print the Keras version and backend. Returns ``(params, started)``.
    """
    started = time.time()
    params = validate(notebook, namespace)
    quiet_tensorflow()
    use_backend(params["backend"])
    import keras

    print(f"Keras {keras.__version__} on {keras.backend.backend()}; profile {params['profile']}")
    return params, started


def quiet_tensorflow() -> None:
    """Silence TensorFlow's C++ start-up lines (oneDNN notice, absl/XLA info) before it is imported.

    They say nothing about a run and would land in every executed notebook of the book. Only a
    default: an explicit ``TF_CPP_MIN_LOG_LEVEL`` wins.
    """
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
