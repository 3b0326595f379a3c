"""Study B parameters: the paper profile means the paper's data; an ignored parameter is an error."""

import pytest

from fashionlib import apparel, book, fpi_synthetic, parameters_cell
from fashionlib.rules import ParameterError

B_NOTEBOOKS = ["b1_apparel_data", "b2_backbones", "b3_hyperparameters", "b4_curves"]


def _declared(stem):
    return parameters_cell.declared_parameters(book.read_source(book.NOTEBOOK_DIR / f"{stem}.md"))


@pytest.mark.parametrize("stem", B_NOTEBOOKS)
def test_paper_profile_takes_the_real_dataset(stem):
    params = book.resolve(stem, _declared(stem), "paper")
    assert params["dataset"] == "fashion_product_images" and params["data_root"]


@pytest.mark.parametrize("stem", B_NOTEBOOKS)
def test_data_root_with_the_stand_in_names_both_parameters(stem):
    with pytest.raises(ParameterError, match="'data_root'.*dataset='fmnist_lt'"):
        book.resolve(stem, _declared(stem), "cpu", {"data_root": "/some/folder"})


@pytest.mark.parametrize("name,value", [("n_max", 100), ("imbalance_factor", 10.0)])
def test_stand_in_knob_with_the_real_dataset_names_both(name, value):
    with pytest.raises(ParameterError, match=f"'{name}'.*dataset='fashion_product_images'"):
        book.resolve("b2_backbones", _declared("b2_backbones"), "paper", {name: value})


def test_real_dataset_without_data_root(tmp_path):
    with pytest.raises(ParameterError, match="needs parameter 'data_root'"):
        book.resolve("b2_backbones", _declared("b2_backbones"), "cpu", {"dataset": "folder"})


def test_in_notebook_validation_catches_it_too():
    with pytest.raises(ParameterError, match="'data_root'.*ignored.*fmnist_lt"):
        # the parameters cell, then papermill's injected cell, then the check (the kernel's input history)
        history = ["", 'dataset = "fmnist_lt"\ndata_root = None\n', 'data_root = "x"\n', "parameters_cell.validate(NB, globals())"]
        parameters_cell.validate("b2_backbones", {"dataset": "fmnist_lt", "data_root": "x", "In": history})


def test_missing_real_data_stops_with_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="styles.csv.*Fashion Product Images.*data_root"):
        apparel.require_data("fashion_product_images", tmp_path / "nothing")
    fpi_synthetic.write_synthetic_fashion_product_images(tmp_path / "fpi")
    apparel.require_data("fashion_product_images", tmp_path / "fpi")  # present: no error
    apparel.require_data("fmnist_lt", None)


def test_paper_profile_notebook_stops_before_training(tmp_path):
    import subprocess
    import sys

    out = tmp_path / "out"
    proc = subprocess.run([sys.executable, "-m", "fashionlib", "run", "b4_curves", "--profile", "paper",
                           "-p", "data_root", str(tmp_path / "absent"), "--out", str(out),
                           "--results-dir", str(tmp_path / "r")], capture_output=True, text=True, timeout=600)
    assert proc.returncode != 0
    text = proc.stdout + proc.stderr
    assert "styles.csv" in text and "Fashion Product Images" in text
    assert "require_data" in text, "the check in the first cell after validation, before any model is built"
    assert not list((tmp_path / "r").rglob("*.json")), "no record may be written"


def test_smoke_profile_on_another_dataset_chosen_with_p(tmp_path):
    """The smoke preset sets the stand-in's n_max; choosing the real data with -p is still allowed."""
    p = book.resolve("b2_backbones", _declared("b2_backbones"), "smoke",
                         {"dataset": "fashion_product_images", "data_root": str(tmp_path)})
    assert p["dataset"] == "fashion_product_images"
    with pytest.raises(ParameterError, match="'n_max'"):
        book.resolve("b2_backbones", _declared("b2_backbones"), "smoke",
                         {"dataset": "fashion_product_images", "data_root": str(tmp_path), "n_max": 5})


def test_start_torch_notebook_checks_sets_threads_and_requires_the_data(tmp_path):
    import torch

    from fashionlib.train_torch import start_torch_notebook

    cell = 'torch_threads = 1\ndataset = "fmnist_lt"\ndata_root = None\n'
    history = ["", cell, "params, started = start_torch_notebook(NB, globals())"]
    before = torch.get_num_threads()
    try:
        params, started = start_torch_notebook("b4_curves", {"torch_threads": 1, "dataset": "fmnist_lt",
                                                             "data_root": None, "In": history})
        assert params == {"torch_threads": 1, "dataset": "fmnist_lt", "data_root": None} and started > 0
        assert torch.get_num_threads() == 1
        with pytest.raises(FileNotFoundError, match="styles.csv.*Fashion Product Images.*data_root"):
            start_torch_notebook("b4_curves", {"torch_threads": 1, "dataset": "fashion_product_images",
                                               "data_root": str(tmp_path / "absent"), "In": history})
        with pytest.raises(ParameterError, match="'torch_threads'"):
            start_torch_notebook("b4_curves", {"torch_threads": 0, "dataset": "fmnist_lt", "data_root": None,
                                               "In": history})
    finally:
        torch.set_num_threads(before)
