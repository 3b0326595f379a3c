"""Parameter validation: unknown names, wrong types, out-of-range values and unknown profiles stop a run
before any work, with a message naming the parameter and the fix."""

import subprocess
import sys

import pytest

from fashionlib import profiles, run
from fashionlib.profiles import ParameterError

DECLARED = {"profile": "cpu", "epochs": 5, "batch_size": 128, "lr0": 0.1, "seeds": [0], "backend": "tensorflow",
            "imbalance_factor": 100.0, "train_size": None}


def test_defaults_profile_and_overrides_merge():
    p = profiles.resolve("x", DECLARED, "smoke", {"epochs": 2, "lr0": 1})
    assert p["epochs"] == 2 and p["lr0"] == 1 and p["profile"] == "smoke" and p["batch_size"] == 128


@pytest.mark.parametrize("overrides, match", [
    ({"epoch": 3}, "unknown parameter 'epoch'.*epochs"),
    ({"epochs": "five"}, "'epochs' expects int"),
    ({"epochs": 2.5}, "'epochs' expects int"),
    ({"epochs": 0}, "'epochs' must be an integer >= 1"),
    ({"batch_size": -1}, "'batch_size' must be"),
    ({"lr0": 0}, "'lr0' must be a number > 0"),
    ({"lr0": -0.1}, "'lr0' must be a number > 0"),
    ({"imbalance_factor": 0.5}, "'imbalance_factor' must be a number >= 1"),
    ({"backend": "theano"}, "'backend' must be one of 'tensorflow', 'torch', 'jax'"),
    ({"seeds": 3}, "'seeds' expects list"),
    ({"epochs": True}, "'epochs' expects int"),
])
def test_bad_parameters_are_rejected(overrides, match):
    with pytest.raises(ParameterError, match=match):
        profiles.resolve("x", DECLARED, "cpu", overrides)


def test_unknown_profile():
    with pytest.raises(ParameterError, match="unknown profile 'fast'.*smoke, cpu, paper"):
        profiles.resolve("x", DECLARED, "fast")


def test_cli_values_are_literals_never_code():
    assert profiles.parse_cli_value("3") == 3
    assert profiles.parse_cli_value("[0, 1]") == [0, 1]
    assert profiles.parse_cli_value("torch") == "torch"
    assert profiles.parse_cli_value("__import__('os').system('true')") == "__import__('os').system('true')"


def test_every_profile_entry_names_declared_parameters():
    """Each profile preset only sets parameters its notebook declares, with valid values."""
    for stem, presets in profiles.PROFILES.items():
        path = run.NOTEBOOK_DIR / f"{stem}.md"
        if not path.exists():
            continue
        declared = run.declared_parameters(run.read_source(path))
        for profile in profiles.PROFILE_NAMES:
            profiles.resolve(stem, declared, profile)


def test_runner_rejects_unknown_parameter_before_work(tmp_path):
    out = tmp_path / "out"
    proc = subprocess.run([sys.executable, "-m", "fashionlib", "run", "a0_fashion_mnist", "--profile", "smoke",
                           "-p", "sample_per_class", "2", "--out", str(out), "--results-dir", str(tmp_path / "r")],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert "unknown parameter 'sample_per_class'" in proc.stderr and "samples_per_class" in proc.stderr
    assert not out.exists() and not (tmp_path / "r").exists(), "nothing may be written"


def test_runner_rejects_wrong_type_and_unknown_notebook(tmp_path):
    for args, msg in ((["a0_fashion_mnist", "-p", "seed", "abc"], "'seed' expects int"),
                      (["a9_nothing"], "does not exist"),
                      (["a0_fashion_mnist", "--profile", "huge"], "unknown profile 'huge'")):
        proc = subprocess.run([sys.executable, "-m", "fashionlib", "run", *args, "--out", str(tmp_path / "o")],
                              capture_output=True, text=True, timeout=120)
        assert proc.returncode == 2 and msg in proc.stderr, proc.stderr
    assert not (tmp_path / "o").exists()
