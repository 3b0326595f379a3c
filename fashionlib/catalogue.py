"""The catalogue of bad inputs: each case provokes one mistake a user makes and records what happens.

A case is registered where its trigger is defined, with :func:`case` (or :func:`parameter_case` for
a notebook parameter the runner must refuse). It builds its inputs in a fresh folder, triggers the
mistake, and must end as its ``expect`` says: ``"error"`` -- one of the ``raises`` exception types,
whose message contains every text of ``mentions`` (the offending file or parameter, the limit), with
nothing half-written in that folder -- or ``"handled"`` -- no exception, and the trigger returns a
description that contains ``mentions``. The tests run every case (``tests/test_catalogue.py``); the
book's "Run it yourself" page runs them again and lists them. The cases build their small files with
:mod:`fashionlib.sample_files`.

Run it as a script to print the table: ``python -m fashionlib.catalogue``.
"""

from __future__ import annotations

import gzip
import os
import struct
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from . import apparel, backend, book, data, parameters_cell, results
from .sample_files import tiny_fashion_mnist, write_idx_gz, write_png

EXPECTATIONS = ("error", "handled")


@dataclass(frozen=True)
class Case:
    name: str
    area: str
    trigger: Callable[[Path], object]  # called with a fresh folder
    expect: str                         # "error" or "handled"
    raises: tuple                       # acceptable exception types (expect="error")
    mentions: tuple                     # texts the message (or the handled description) must contain
    fix: str                            # what the user should do (shown in the book)


CASES: list[Case] = []


def case(*, name: str, area: str, fix: str, mentions, raises=(ValueError,), expect: str = "error"):
    """Register the decorated trigger as a case of the catalogue (keyword arguments only)."""
    if expect not in EXPECTATIONS:
        raise ValueError(f"case {name!r}: expect must be one of {EXPECTATIONS}, got {expect!r}.")
    raises = raises if isinstance(raises, tuple) else (raises,)
    mentions = (mentions,) if isinstance(mentions, str) else tuple(mentions)

    def register(trigger):
        if any(c.name == name for c in CASES):
            raise ValueError(f"case {name!r} is registered twice.")
        CASES.append(Case(name, area, trigger, expect, raises, mentions, fix))
        return trigger
    return register


# ----------------------------------------------------------------------------- data cases -----
# Every damaged-file case loads with the checksums on (the default): the specific fault must be
# reported before the SHA-256 mismatch that any damage also causes.
@case(name="missing dataset", area="data", raises=FileNotFoundError, mentions=("nowhere", "does not exist"),
      fix="apt-get install dataset-fashion-mnist, set FASHION_MNIST_DIR, or download=True")
def _missing_dataset(tmp: Path):
    data.load_fashion_mnist(tmp / "nowhere")


def _with_env(name: str, value: str, action: Callable[[], object]):
    """Run ``action`` with the environment variable ``name`` set to ``value``, then restore it."""
    before = os.environ.get(name)
    os.environ[name] = value
    try:
        return action()
    finally:
        if before is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = before


@case(name="FASHION_MNIST_DIR names a missing folder", area="data", raises=FileNotFoundError,
      mentions=("$FASHION_MNIST_DIR", "not-there", "does not exist", "Fix:"),
      fix="set FASHION_MNIST_DIR to the folder holding the four files, or unset it")
def _env_dir_missing(tmp: Path):
    _with_env(data.ENV_VAR, str(tmp / "not-there"), data.load_fashion_mnist)


@case(name="FASHION_MNIST_DIR lacks one file", area="data", raises=FileNotFoundError,
      mentions=("$FASHION_MNIST_DIR", "lacks t10k-labels-idx1-ubyte.gz", "Fix:"),
      fix="put all four IDX files in that folder, or unset FASHION_MNIST_DIR")
def _env_dir_incomplete(tmp: Path):
    folder = tiny_fashion_mnist(tmp)
    (folder / "t10k-labels-idx1-ubyte.gz").unlink()
    _with_env(data.ENV_VAR, str(folder), data.load_fashion_mnist)


@case(name="truncated .gz", area="data", mentions=("train-images-idx3-ubyte.gz", "truncated or corrupted"),
      fix="delete the file and fetch it again")
def _truncated_gz(tmp: Path):
    folder = tiny_fashion_mnist(tmp)
    f = folder / "train-images-idx3-ubyte.gz"
    f.write_bytes(f.read_bytes()[:60])
    data.load_fashion_mnist(folder)


@case(name="truncated IDX payload", area="data",
      mentions=("train-images-idx3-ubyte.gz", "declares dimensions (20, 28, 28)", "truncated"),
      fix="delete the file and fetch it again")
def _truncated_payload(tmp: Path):
    folder = tiny_fashion_mnist(tmp)
    with gzip.open(folder / "train-images-idx3-ubyte.gz", "wb") as fh:  # a whole gzip stream, a short payload
        fh.write(struct.pack(">IIII", 0x803, 20, 28, 28) + bytes(19 * 28 * 28))
    data.load_fashion_mnist(folder)


@case(name="corrupted content (SHA-256)", area="data", mentions=("SHA-256", "train-images-idx3-ubyte.gz"),
      fix="delete the file and fetch it again")
def _corrupt_checksum(tmp: Path):
    data.load_fashion_mnist(tiny_fashion_mnist(tmp), verify=True)


@case(name="wrong IDX magic number", area="data",
      mentions=("t10k-images-idx3-ubyte.gz", "magic number is 0x00000801, expected 0x00000803"),
      fix="check the file name; fetch it again")
def _wrong_magic(tmp: Path):
    folder = tiny_fashion_mnist(tmp)
    write_idx_gz(folder / "t10k-images-idx3-ubyte.gz", np.zeros((10, 28, 28)), magic=0x801)
    data.load_fashion_mnist(folder)


@case(name="image/label count mismatch", area="data", mentions=("20 images but", "train-labels-idx1-ubyte.gz", "17 labels"),
      fix="fetch both files again")
def _count_mismatch(tmp: Path):
    folder = tiny_fashion_mnist(tmp)
    write_idx_gz(folder / "train-labels-idx1-ubyte.gz", np.arange(17) % 10)
    data.load_fashion_mnist(folder)


@case(name="labels out of range", area="data", mentions=("train-labels-idx1-ubyte.gz", "label 10 is out of range 0..9"),
      fix="the file is from another dataset; fetch it again")
def _label_range(tmp: Path):
    folder = tiny_fashion_mnist(tmp)
    write_idx_gz(folder / "train-labels-idx1-ubyte.gz", np.full(20, 10))  # the first label past 0..9
    data.load_fashion_mnist(folder)


# -------------------------------------------------------------------------- apparel cases -----
@case(name="apparel folder with no images", area="apparel", raises=(ValueError, FileNotFoundError),
      mentions="no readable images found", fix="point at a folder with one sub-folder of images per class")
def _folder_no_images(tmp: Path):
    (tmp / "shirts").mkdir()
    (tmp / "shirts" / "notes.txt").write_text("no images here")
    apparel.load_folder(tmp, on_bad="warn")


@case(name="apparel class with one image", area="apparel", mentions=("'scarves' (1 image)", "min_images_per_class"),
      fix="add images or drop small classes with min_images_per_class=3")
def _class_of_one(tmp: Path):
    for i in range(4):
        write_png(tmp / "tops" / f"{i}.png")
    write_png(tmp / "scarves" / "0.png")
    src = apparel.load_folder(tmp)
    apparel.split_indices(src.labels, class_names=src.class_names)


@case(name="unreadable / non-image file", area="apparel", mentions=("broken.jpg", "is not a readable image"),
      fix="remove or replace the file (or on_bad='warn' to skip it)")
def _non_image_file(tmp: Path):
    for i in range(3):
        write_png(tmp / "tops" / f"{i}.png")
    (tmp / "tops" / "broken.jpg").write_bytes(b"this is not a jpeg")
    apparel.load_folder(tmp, on_bad="error")


@case(name="16-bit greyscale image (handled)", area="apparel", expect="handled", raises=(),
      mentions="(8, 8, 3) uint8", fix="nothing: converted to 8-bit RGB")
def _sixteen_bit_image(tmp: Path):
    arr = apparel.read_image(write_png(tmp / "a.png", mode="I;16"))
    return f"{tmp / 'a.png'}: 16-bit greyscale read as {arr.shape} {arr.dtype}"


@case(name="CSV with a missing column", area="apparel",
      mentions=("styles.csv", "no column 'path'", "(columns: id, label)"),
      fix="pass path_column=/label_column= naming the right columns")
def _csv_missing_column(tmp: Path):
    (tmp / "styles.csv").write_text("id,label\n1,Tshirts\n")
    apparel.load_csv(tmp / "styles.csv", path_column="path", label_column="label")


@case(name="CSV path that does not exist", area="apparel", raises=(ValueError, FileNotFoundError),
      mentions=("missing.png", "list.csv", "does not exist"), fix="restore the file or remove its row")
def _csv_missing_path(tmp: Path):
    write_png(tmp / "a.png")
    (tmp / "list.csv").write_text("path,label\na.png,Tshirts\nmissing.png,Tshirts\n")
    apparel.load_csv(tmp / "list.csv", on_bad="error")


# ------------------------------------------------------------------------ parameter cases -----
def parameter_case(*, name: str, notebook: str, overrides: dict, mentions, fix: str, profile: str = "cpu"):
    """Register a case: the runner's parameter check (``book.resolve``) must refuse these overrides."""
    def trigger(tmp: Path):
        declared = parameters_cell.declared_parameters(book.read_source(book.notebook_path(notebook)))
        book.resolve(notebook, declared, profile, overrides)

    case(name=name, area="parameters", mentions=mentions, fix=fix)(trigger)


parameter_case(name="unknown papermill parameter", notebook="a1_improved_cnn", overrides={"epoch": 3},
               mentions=("unknown parameter 'epoch'", "epochs"),
               fix="use a name the notebook declares (the message lists them)")
parameter_case(name="renamed parameter given the old way", notebook="a1_improved_cnn", overrides={"lr0": 0.1},
               mentions=("'lr0'", "renamed 'lr'", "-p lr"), fix="use the new name the message gives")
parameter_case(name="wrong parameter type", notebook="a1_improved_cnn", overrides={"epochs": "ten"},
               mentions="'epochs' expects int", fix="pass a value of the declared type")
parameter_case(name="epochs <= 0", notebook="a1_improved_cnn", overrides={"epochs": 0},
               mentions="'epochs' must be an integer >= 1", fix="epochs >= 1")
parameter_case(name="batch size <= 0", notebook="a1_improved_cnn", overrides={"batch_size": 0},
               mentions="'batch_size' must be an integer >= 1", fix="batch_size >= 1")
parameter_case(name="learning rate <= 0", notebook="a1_improved_cnn", overrides={"lr": -0.1},
               mentions="'lr' must be a number > 0", fix="a learning rate > 0")
parameter_case(name="imbalance factor < 1", notebook="b1_apparel_data", overrides={"imbalance_factor": 0.5},
               mentions="'imbalance_factor' must be a number >= 1", fix="imbalance_factor >= 1 (1 = balanced)")
parameter_case(name="two sources of initial weights (study B)", notebook="b2_backbones",
               overrides={"weights_dir": "/tmp/w", "pretrained": True, "backbones": ["deit_base_patch16_224"],
                          "image_size": 224},
               mentions=("'weights_dir'='/tmp/w' and 'pretrained'=True both choose", "-p weights_dir none"),
               fix="one of weights_dir or pretrained")
parameter_case(name="from-scratch control without pretrained weights", notebook="b2_backbones",
               overrides={"weights_dir": "none"},
               mentions=("'scratch_control'=True needs pretrained weights", "-p scratch_control False"),
               fix="-p scratch_control False, or pretrained weights")
parameter_case(name="unknown profile", notebook="a1_improved_cnn", overrides={}, profile="fast",
               mentions=("unknown profile 'fast'", "smoke, cpu, standin, paper"),
               fix="smoke, cpu or paper (standin: b0 and b2 only)")
parameter_case(name="batch larger than the training set (study A)", notebook="a1_improved_cnn",
               overrides={"train_size": 100, "batch_size": 128},
               mentions=("'batch_size'", "128, more than the 100 training images"),
               fix="a batch size <= train_size, or a larger train_size")
parameter_case(name="batch larger than the training set (study B)", notebook="b4_curves",
               overrides={"batch_size": 4096}, mentions=("'batch_size' is 4096", "600 training images"),
               fix="a batch size <= the balanced training set, or a larger n_max / balance_target")
parameter_case(name="train_size below the number of classes", notebook="a3_batch_size", overrides={"train_size": 5},
               mentions=("'train_size' is 5", "below the 10 classes"), fix="train_size >= 10, or None")
parameter_case(name="train_size above the training split", notebook="a2_models", overrides={"train_size": 60000},
               mentions=("'train_size' is 60000", "48,000"), fix="train_size <= 48000, or None")
parameter_case(name="image smaller than the backbone's patch", notebook="b2_backbones", overrides={"image_size": 2},
               mentions=("'image_size' is 2", "4-pixel patch"), fix="image_size >= the patch (16 for the paper's)")
parameter_case(name="pretrained micro backbone", notebook="b4_curves", overrides={"pretrained": True},
               mentions=("'pretrained'", "'beit_micro'", "micro variant"),
               fix="pretrained=False, or one of the paper's backbones")
parameter_case(name="data_root ignored by the long-tailed set", notebook="b1_apparel_data",
               overrides={"data_root": "/data/apparel"},
               mentions=("parameter 'data_root'='/data/apparel' is ignored with dataset='fmnist_lt'", "Fix:"),
               fix="drop data_root, or choose a dataset that reads it")
parameter_case(name="image-folder dataset without data_root", notebook="b1_apparel_data",
               overrides={"dataset": "folder"}, mentions=("dataset='folder' needs parameter 'data_root'", "Fix:"),
               fix="-p data_root /path/to/images")
parameter_case(name="imbalance factor ignored by an image folder", notebook="b1_apparel_data",
               overrides={"dataset": "folder", "data_root": "/data/apparel", "imbalance_factor": 10.0},
               mentions=("parameter 'imbalance_factor'=10.0 is ignored with dataset='folder'", "Fix:"),
               fix="drop imbalance_factor, or use dataset='fmnist_lt'")
parameter_case(name="lr_end ignored by a constant schedule", notebook="a1_improved_cnn",
               overrides={"schedule": "constant", "lr_end": 1e-4}, mentions=("'lr_end' is ignored", "'constant'"),
               fix="drop lr_end, or choose a decaying schedule")
parameter_case(name="lr_ends grid under a constant schedule", notebook="a5_closing_the_gap",
               overrides={"schedule": "constant"}, mentions=("'lr_ends' is ignored by schedule='constant'",),
               fix="one lr_end, or a decaying schedule")
parameter_case(name="n_max above the images per class", notebook="b2_backbones", overrides={"n_max": 7000},
               mentions=("'n_max' must be an integer in 1..3000", "got 7000"), fix="n_max <= 3000")
parameter_case(name="test_per_class above the official test set", notebook="b2_backbones",
               overrides={"test_per_class": 1001},
               mentions=("'test_per_class' must be None (all 1,000) or an integer in 1..1000", "got 1001"),
               fix="test_per_class <= 1000 (the official test set has 1,000 per class), or None")
parameter_case(name="the same seed twice", notebook="a2_models", overrides={"seeds": [0, 0]},
               mentions="'seeds' must be a non-empty list of distinct integers", fix="distinct seeds, e.g. [0, 1, 2]")
parameter_case(name="balance_target ignored without resampling", notebook="b2_backbones",
               overrides={"balances": ["none"], "balance_target": 30},
               mentions=("'balance_target' is ignored", "'resample'"), fix="drop balance_target, or add 'resample'")


# ------------------------------------------------------------------------------ runner cases -----
@case(name="results folder is a file", area="runner", mentions=("--results-dir", "records", "is a file", "Fix:"),
      fix="point --results-dir at a folder (a new one is created)")
def _results_dir_is_a_file(tmp: Path):
    (tmp / "records").write_text("a file where the records folder should be")
    book.check_paths(tmp / "out", results_dir=tmp / "records")  # what the runner checks before any work


@case(name="output folder is a file", area="runner", mentions=("--out", "executed", "is a file", "Fix:"),
      fix="point --out at a folder (a new one is created)")
def _out_dir_is_a_file(tmp: Path):
    (tmp / "executed").write_text("a file where the executed notebooks should go")
    book.check_paths(tmp / "executed", results_dir=tmp / "r")


# ---------------------------------------------------------------------------- model cases -----
@case(name="unknown backbone", area="models", raises=ValueError,
      mentions=("unknown backbone 'resnet9000'", "beit_base_patch16_224", "deit_micro"),
      fix="pick a backbone from the list in the message")
def _unknown_backbone(tmp: Path):
    from . import torch_models

    torch_models.build_model("resnet9000", num_classes=3)


@case(name="unknown optimizer", area="models", mentions=("'optimizer'", "'adagrad'", "'adam', 'rmsprop', 'sgd'"),
      fix="adam, rmsprop or sgd")
def _unknown_optimizer(tmp: Path):
    from .torch_config import TrainConfig

    TrainConfig(optimizer="adagrad")  # checked when built


@case(name="unknown schedule", area="models",
      mentions=("unknown learning-rate schedule 'warm_restarts'", "'paper'", "'cosine'"),
      fix="one of paper, constant, exponential, inverse_time, cosine")
def _unknown_schedule(tmp: Path):
    from . import schedules

    schedules.make_schedule("warm_restarts")


@case(name="unknown Keras backend", area="models", mentions=("theano", "tensorflow"), fix="tensorflow, torch or jax")
def _unknown_backend(tmp: Path):
    backend.use_backend("theano")


# -------------------------------------------------------------------------- weights cases -----
@case(name="pretrained weights requested but absent", area="weights", raises=(FileNotFoundError, ValueError),
      mentions=("deit_base_patch16_224", "weights_file="),
      fix="download once online into the Hugging Face cache, or pass weights_file=")
def _pretrained_absent(tmp: Path):
    from . import torch_models

    # downloads off, as on a machine without network: the weights must already be in the cache
    torch_models.create_backbone("deit_base_patch16_224", pretrained=True, allow_download=False)


@case(name="corrupt weights file", area="weights", mentions=("deit.safetensors", "is corrupt"),
      fix="download the file again")
def _corrupt_weights(tmp: Path):
    from . import torch_models

    (tmp / "deit.safetensors").write_bytes(b"\x00garbage" * 10)
    torch_models.read_weights_file(tmp / "deit.safetensors")


@case(name="weights file for another model", area="weights",
      mentions=("other.safetensors", "does not fit", "missing keys"),
      fix="use the weights of this backbone")
def _weights_other_model(tmp: Path):
    import torch
    from safetensors.torch import save_file

    from . import torch_models

    save_file({"conv.weight": torch.zeros(4, 3, 3, 3)}, str(tmp / "other.safetensors"))
    model = torch_models.build_model("deit_micro", num_classes=3, image_size=32)
    torch_models.load_model_weights(model, tmp / "other.safetensors")


@case(name="corrupt training checkpoint", area="resume", mentions=("checkpoint.pt", "is corrupt"),
      fix="delete it to start over, or use another ckpt_dir")
def _corrupt_checkpoint(tmp: Path):
    from . import train_torch

    (tmp / train_torch.CHECKPOINT_NAME).write_bytes(b"not a checkpoint")
    train_torch.load_checkpoint(tmp / train_torch.CHECKPOINT_NAME, train_torch.TrainConfig())


@case(name="corrupt results record", area="results", mentions="run.json is not valid JSON",
      fix="delete the record and re-run its notebook")
def _corrupt_record(tmp: Path):
    (tmp / "cpu" / "nb").mkdir(parents=True)
    (tmp / "cpu" / "nb" / "run.json").write_text('{"provenance": ')
    results.load_records("nb", "cpu", tmp)


def _temporary_files(folder: Path) -> list[str]:
    """Files an interrupted atomic write would leave: hidden temporaries, *.tmp, *.part."""
    return [str(p) for p in folder.rglob("*")
            if p.is_file() and (p.name.startswith(".") or p.suffix in (".tmp", ".part"))]


def run_case(c: Case, folder: Path | None = None) -> dict:
    """Run one case; return its outcome, the exception type, the message and the files left behind.

    Outcomes: "clear error" / "handled" when the case ends as expected, else what went wrong.
    """
    with tempfile.TemporaryDirectory(prefix="fashionlib-case-") as tmp_name:
        tmp = Path(folder or tmp_name)
        tmp.mkdir(parents=True, exist_ok=True)
        exc_type, message = "", ""
        try:
            returned = c.trigger(tmp)
        except c.raises as exc:
            exc_type, message = type(exc).__name__, str(exc)
            outcome = "clear error" if c.expect == "error" else "error where handling was expected"
        except Exception as exc:  # a wrong kind of error is a failed case, reported as such
            exc_type, message, outcome = type(exc).__name__, str(exc), "unexpected error type"
        else:
            message = str(returned or "")
            outcome = "handled" if c.expect == "handled" else "no error raised"
        if outcome in ("clear error", "handled"):
            missing = [m for m in c.mentions if m.lower() not in message.lower()]
            if missing:
                outcome = f"message does not mention {missing[0]!r}"
        leftovers = _temporary_files(tmp)
    return {"case": c.name, "area": c.area, "expect": c.expect, "outcome": outcome, "exception": exc_type,
            "message": message, "temporary files left": len(leftovers), "fix": c.fix}


def run_catalogue() -> "pd.DataFrame":  # noqa: F821
    import pandas as pd

    return pd.DataFrame([run_case(c) for c in CASES])


if __name__ == "__main__":
    import pandas as pd

    table = run_catalogue()
    with pd.option_context("display.max_colwidth", 60, "display.width", 200):
        print(table[["area", "case", "outcome", "exception"]].to_string(index=False))
    ok = table["outcome"].isin(["clear error", "handled"]).sum()
    print(f"\n{ok} of {len(table)} bad-input cases end as expected (a clear error, or handled)")
