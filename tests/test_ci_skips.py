"""Under CI (CI=true) a skip of a must-run test (browser, Keras, saved models) is a failure with its reason."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
MUST_RUN = 'import pytest\n\n\ndef test_needs_chromium():\n    pytest.skip("no browser: install chromium")\n'
IMPORT_SKIP = 'import pytest\n\npytest.importorskip("no_such_backend_module")\n\n\ndef test_x():\n    pass\n'
OTHER = 'import pytest\n\n\n@pytest.mark.skip(reason="not relevant here")\ndef test_y():\n    pass\n'


def _run_copy(tmp_path, ci):
    tests = tmp_path / "tests"
    tests.mkdir()
    shutil.copy(HERE / "conftest.py", tests / "conftest.py")
    (tests / "__init__.py").write_text("")
    (tests / "test_catalogue.py").write_text("OUTCOMES = []\n")
    (tests / "test_browser.py").write_text(MUST_RUN)
    (tests / "test_train_keras.py").write_text(IMPORT_SKIP)
    (tests / "test_other.py").write_text(OTHER)
    env = {k: v for k, v in os.environ.items() if k != "CI"}
    if ci:
        env["CI"] = "true"
    env["PYTHONPATH"] = os.pathsep.join([str(HERE.parent), env.get("PYTHONPATH", "")])
    proc = subprocess.run([sys.executable, "-m", "pytest", "-rA", "-p", "no:cacheprovider",
                           "--continue-on-collection-errors", "tests"],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    return proc.returncode, proc.stdout


@pytest.mark.parametrize("ci", [True, False])
def test_skips_of_must_run_tests_fail_under_ci(tmp_path, ci):
    code, out = _run_copy(tmp_path, ci)
    if ci:
        assert code == 1, out
        assert "skipped under CI=true, which counts as a failure here" in out
        assert "no browser: install chromium" in out and "no_such_backend_module" in out
        assert "1 failed, 1 skipped, 1 error" in out, out[-1500:]  # the other module's skip stays a skip
    else:
        assert code == 0, out
        assert "3 skipped" in out, out[-1500:]
