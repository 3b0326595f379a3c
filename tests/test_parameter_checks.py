"""Parameter validation: unknown names, wrong types, out-of-range values, impossible combinations and
unknown profiles stop a run before any work, with a message naming the parameter and the fix. (The
catalogue, ``fashionlib.catalogue``, holds one case per kind of mistake on the real notebooks; these
tests check the machinery on a synthetic notebook.)"""

import subprocess
import sys

import pytest

from fashionlib import book, choices, combinations, parameters_cell, rules
from fashionlib.rules import ParameterError

DECLARED = {"profile": "cpu", "epochs": 5, "batch_size": 128, "lr": 0.1, "seeds": [0], "backend": "tensorflow",
            "imbalance_factor": 100.0, "train_size": None, "schedule": "paper", "lr_end": 1e-5}
PARAMETERS_CELL = """profile = "cpu"
backend = "tensorflow"
epochs = 5
batch_size = 128
lr = 0.1
lr_end = 1e-05
schedule = "paper"
seeds = [0]
train_size = None
"""
VALIDATE_CELL = "params = parameters_cell.validate(NB, globals())"


def test_defaults_profile_and_overrides_merge():
    p = book.resolve("x", DECLARED, "smoke", {"epochs": 2, "lr": 1})
    assert p["epochs"] == 2 and p["lr"] == 1 and p["profile"] == "smoke" and p["batch_size"] == 128


@pytest.mark.parametrize("overrides, match", [
    ({"epochs": 2.5}, "'epochs' expects int"),
    ({"epochs": True}, "'epochs' expects int"),
    ({"lr": 0}, "'lr' must be a number > 0"),
    ({"backend": "theano"}, "'backend' must be one of 'tensorflow', 'torch', 'jax'"),
    ({"seeds": 3}, "'seeds' expects list"),
    ({"seeds": [0, -1]}, "'seeds' must be a non-empty list of distinct integers >= 0"),
])
def test_bad_parameters_are_rejected(overrides, match):
    with pytest.raises(ParameterError, match=match):
        book.resolve("x", DECLARED, "cpu", overrides)


@pytest.mark.parametrize("overrides, match", [
    ({"train_size": 64, "batch_size": 65}, "'batch_size' holds 65, more than the 64 training images"),
    ({"train_size": 9}, "'train_size' is 9, below the 10 classes"),
    ({"schedule": "constant", "lr_end": 1e-4}, "'lr_end' is ignored by schedule='constant'"),
])
def test_impossible_combinations_are_refused_with_limit_and_fix(overrides, match):
    with pytest.raises(ParameterError, match=match) as err:
        book.resolve("x", DECLARED, "cpu", overrides)
    assert "Fix:" in str(err.value)


def test_limits_are_inclusive_and_unchanged_defaults_are_not_ignored_parameters():
    book.resolve("x", DECLARED, "cpu", {"train_size": 64, "batch_size": 64})
    book.resolve("x", DECLARED, "cpu", {"train_size": 10, "batch_size": 10})
    book.resolve("x", DECLARED, "cpu", {"schedule": "constant"})  # lr_end left at its default
    # the whole official test set (1,000 per class) and the largest class of half A: at the limit, allowed
    rules.check_params({"test_per_class": 1000, "n_max": 3000, "per_class": 2950})


def test_study_b_training_set_size_matches_the_data_code(fmnist_dir):
    """The size the runner computes without data is the one the training split has."""
    from fashionlib.train_torch import TrainConfig, make_splits

    params = {"dataset": "fmnist_lt", "n_max": 60, "imbalance_factor": 10.0, "balance_target": 10,
              "balances": ["none", "resample"]}
    sizes = combinations.study_b_train_images(params)
    for method in ("none", "resample"):
        cfg = TrainConfig(n_max=60, imbalance_factor=10.0, balance_target=10, balance=method)
        assert len(make_splits(cfg).train_idx) == sizes[method], method


@pytest.mark.parametrize("backbone", ["deit_micro", "swinv2_micro", "beit_micro", "vit_micro"])
def test_smallest_image_is_the_backbones_patch(backbone):
    """The backbone table's min_image is right: the model runs at that size and fails one pixel below."""
    import torch

    from fashionlib import torch_models

    need = choices.BACKBONES[backbone]["min_image"]
    with torch.no_grad():
        torch_models.build_model(backbone, 10, image_size=need).eval()(torch.zeros(1, 3, need, need))
        with pytest.raises(Exception):
            torch_models.build_model(backbone, 10, image_size=need - 1).eval()(
                torch.zeros(1, 3, need - 1, need - 1))


def test_renamed_parameter_names_the_new_one_and_old_records_upgrade():
    with pytest.raises(ParameterError, match="'lr0' .* was renamed 'lr'. Fix: pass -p lr"):
        book.resolve("x", DECLARED, "cpu", {"lr0": 0.01})
    assert rules.upgrade_parameters({"lr0": 0.1, "lr0s": [1], "epochs": 2}) == {"lr": 0.1, "lrs": [1], "epochs": 2}


def test_in_notebook_check_reads_the_parameters_cell_from_the_kernel_history():
    injected = "# Parameters\nepochs = 2\nprofile = \"smoke\"\n"
    history = ["", "import os", PARAMETERS_CELL, injected, "NB = 'x'\n" + VALIDATE_CELL]
    namespace = {**parameters_cell.literal_assignments(PARAMETERS_CELL), "epochs": 2, "profile": "smoke", "In": history,
                 "os": object()}
    params = parameters_cell.validate("x", namespace)
    assert params["epochs"] == 2 and set(params) == set(parameters_cell.literal_assignments(PARAMETERS_CELL))
    # re-running the check cell (Jupyter, Colab) finds the same cell
    assert parameters_cell.validate("x", {**namespace, "In": history + [history[-1]]}) == params


@pytest.mark.parametrize("injected, value, match", [
    ("epoch = 3\n", {"epoch": 3}, "unknown parameter 'epoch' \\(from the injected parameters\\)"),
    ("lr0 = 0.01\n", {"lr0": 0.01}, "'lr0' .* was renamed 'lr'"),
    ("epochs = 0\n", {"epochs": 0}, "'epochs' must be an integer >= 1"),
    ("epochs = 1.5\n", {"epochs": 1.5}, "'epochs' expects int"),
    ("train_size = 100\nbatch_size = 128\n", {"train_size": 100, "batch_size": 128}, "more than the 100 training"),
])
def test_in_notebook_check_refuses_what_the_runner_refuses(injected, value, match):
    namespace = {**parameters_cell.literal_assignments(PARAMETERS_CELL), **value,
                 "In": ["", PARAMETERS_CELL, injected, VALIDATE_CELL]}
    with pytest.raises(ParameterError, match=match):
        parameters_cell.validate("x", namespace)


def test_in_notebook_check_without_a_history_checks_every_ruled_global():
    assert parameters_cell.validate("x", {"epochs": 3, "helper": len}) == {"epochs": 3}
    with pytest.raises(ParameterError, match="'epochs' must be"):
        parameters_cell.validate("x", {"epochs": 0})


def test_literal_assignments_recognises_only_parameter_cells():
    assert parameters_cell.literal_assignments("a = 1\nb = [1, 2]  # note\n") == {"a": 1, "b": [1, 2]}
    for source in ("a = f(1)", "import os", "a = 1\nprint(a)", "", "a, b = 1, 2", "x ="):
        assert parameters_cell.literal_assignments(source) is None, source


def test_no_notebook_lists_its_own_parameter_names():
    for path in book.NOTEBOOK_DIR.glob("*.md"):
        text = path.read_text()
        # study-A and study-B notebooks reach parameters_cell.validate through backend.start_keras_notebook and
        # train_torch.start_torch_notebook
        assert ("parameters_cell.validate(NB, globals())" in text or "start_keras_notebook(NB, globals())" in text
                or "start_torch_notebook(NB, globals())" in text), path.name
        assert "globals(), [" not in text, path.name


def test_cli_values_are_literals_never_code():
    assert rules.parse_cli_value("3") == 3
    assert rules.parse_cli_value("[0, 1]") == [0, 1]
    assert rules.parse_cli_value("torch") == "torch"
    assert rules.parse_cli_value("true") is True and rules.parse_cli_value("false") is False
    assert rules.parse_cli_value("__import__('os').system('true')") == "__import__('os').system('true')"


def test_every_profile_entry_names_declared_parameters():
    """Each profile preset only sets parameters its notebook declares, with valid values."""
    for stem, presets in book.PROFILES.items():
        path = book.NOTEBOOK_DIR / f"{stem}.md"
        if not path.exists():
            continue
        declared = parameters_cell.declared_parameters(book.read_source(path))
        assert {"smoke", "cpu"} <= set(presets) <= set(choices.PROFILE_NAMES), stem
        for profile in presets:
            book.resolve(stem, declared, profile)
    assert {nb for nb, presets in book.PROFILES.items() if "standin" in presets} == set(book.STANDIN_NOTEBOOKS)


def test_a_notebook_without_the_profile_is_refused_naming_what_it_has():
    with pytest.raises(rules.ParameterError, match=r"b1_apparel_data: has no 'standin' profile; it has smoke, "
                                                      r"cpu, paper\. The 'standin' profile is study B's stand-in"):
        book.resolve("b1_apparel_data", {"profile": "cpu"}, "standin")
    with pytest.raises(rules.ParameterError, match="b0_pretraining: has no 'paper' profile"):
        book.resolve("b0_pretraining", {"profile": "cpu"}, "paper")


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
