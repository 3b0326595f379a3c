import hashlib
import os

try:  # torch before TensorFlow: the reverse order segfaults in one process (fashionlib.backend)
    import torch  # noqa: F401
    import triton  # noqa: F401
except ImportError:  # pragma: no cover
    pass
import shutil
from pathlib import Path

import numpy as np
import pytest

from fashionlib import data
from fashionlib.sample_files import tiny_fashion_mnist, write_idx_gz, write_png  # noqa: F401 -- shared builders

REPO = Path(__file__).resolve().parent.parent


def weights_digest(model) -> str:
    """SHA-256 of a Keras model's weights, in order: equal digests mean bit-identical weights."""
    h = hashlib.sha256()
    for w in model.get_weights():
        h.update(np.ascontiguousarray(w).tobytes())
    return h.hexdigest()


@pytest.fixture(scope="session")
def fmnist_dir() -> Path:
    """The real Fashion-MNIST folder (Debian package, env var or cache)."""
    try:
        return data.find_fashion_mnist()
    except FileNotFoundError as exc:  # pragma: no cover - CI installs the Debian package
        pytest.fail(f"real Fashion-MNIST is required for the tests: {exc}")


@pytest.fixture(scope="session")
def fmnist(fmnist_dir):
    return data.load_fashion_mnist(fmnist_dir)


@pytest.fixture
def tiny_idx_dir(tmp_path):
    """A folder with four small, valid IDX files (not the real data: checksums disabled when read)."""
    return tiny_fashion_mnist(tmp_path)


@pytest.fixture
def copy_of_real(tmp_path, fmnist_dir):
    """A writable copy of the real files."""
    dst = tmp_path / "fm"
    shutil.copytree(fmnist_dir, dst)
    return dst


@pytest.fixture(scope="module")
def one_torch_thread():
    """Tiny torch models: one thread is as fast on a quiet machine and far faster on a shared one."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(autouse=True)
def _isolated_results(tmp_path, monkeypatch):
    """Records written by tests go to a temporary folder, never into book/results."""
    monkeypatch.setenv("FASHIONLIB_RESULTS_DIR", str(tmp_path / "results"))


def pytest_terminal_summary(terminalreporter):
    """Print the count of bad-input cases and their outcomes (issue: reliability catalogue)."""
    from tests.test_catalogue import OUTCOMES

    if not OUTCOMES:
        return
    counts: dict[str, int] = {}
    for row in OUTCOMES:
        counts[row["outcome"]] = counts.get(row["outcome"], 0) + 1
    summary = ", ".join(f"{n} {k}" for k, n in sorted(counts.items()))
    terminalreporter.write_line(f"bad-input catalogue: {len(OUTCOMES)} cases: {summary}")


# Under CI (CI=true) these tests must run: a skip there (no Chromium, no Keras backend, no committed
# models, no C++ compiler for torch.compile) would let a broken book or model pass unseen, so it is
# reported as a failure with its reason.
CI_MUST_RUN = {"test_browser.py", "test_keras_models.py", "test_saved_models.py", "test_schedules.py",
               "test_train_keras.py", "test_train_torch_speed.py"}


def _under_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in ("true", "1", "yes")


def _skip_is_failure(path, report) -> bool:
    return _under_ci() and report.skipped and Path(str(path)).name in CI_MUST_RUN


def _fail_instead_of_skip(report) -> None:
    reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
    report.outcome = "failed"
    report.longrepr = f"skipped under CI=true, which counts as a failure here: {reason}"


@pytest.hookimpl(hookwrapper=True)
def pytest_make_collect_report(collector):
    """A module-level skip (``importorskip``) of a must-run module fails under CI."""
    outcome = yield
    report = outcome.get_result()
    if _skip_is_failure(getattr(collector, "path", ""), report):
        _fail_instead_of_skip(report)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """A skip of a must-run test (a ``skip`` call, ``skipif`` or a fixture that skips) fails under CI."""
    outcome = yield
    report = outcome.get_result()
    if _skip_is_failure(item.path, report) and not hasattr(report, "wasxfail"):
        _fail_instead_of_skip(report)
