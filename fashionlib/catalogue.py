"""The catalogue of bad inputs: each case provokes one mistake a user makes and records what happens.

Each case builds its inputs in a fresh folder, triggers the mistake, and must end in a clear error
(its own exception type, or ``ValueError``/``FileNotFoundError``) whose message names the offending
file or parameter, with nothing half-written in that folder. The tests run every case
(``tests/test_catalogue.py``); the book's "Run it yourself" page runs them again and lists them.

Run it as a script to print the table: ``python -m fashionlib.catalogue``.
"""

from __future__ import annotations

import gzip
import struct
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np


@dataclass
class Case:
    name: str
    area: str
    trigger: Callable[[Path], None]   # called with a fresh folder; must raise
    expected: tuple                    # acceptable exception types
    mentions: str                      # text the message must contain (the file or parameter)
    fix: str                           # what the user should do (shown in the book)


def _idx(path: Path, array: np.ndarray, magic: int | None = None) -> Path:
    magic = magic if magic is not None else (0x803 if array.ndim == 3 else 0x801)
    with gzip.open(path, "wb") as fh:
        fh.write(struct.pack(">I", magic) + struct.pack(f">{array.ndim}I", *array.shape)
                 + array.astype(np.uint8).tobytes())
    return path


def _tiny_fmnist(folder: Path, n_train: int = 20, n_test: int = 10) -> Path:
    rng = np.random.default_rng(0)
    for split, n in (("train", n_train), ("t10k", n_test)):
        _idx(folder / f"{split}-images-idx3-ubyte.gz", rng.integers(0, 255, (n, 28, 28)))
        _idx(folder / f"{split}-labels-idx1-ubyte.gz", np.arange(n) % 10)
    return folder


def _png(path: Path, mode: str = "RGB", size=(8, 8)) -> Path:
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    arr = np.random.default_rng(0).integers(0, 255, (*size, 3) if mode == "RGB" else size)
    if mode == "I;16":
        Image.fromarray((arr * 257).astype(np.uint16)).save(path)
    else:
        Image.fromarray(arr.astype(np.uint8), mode if mode != "RGB" else None).save(path)
    return path


# ----------------------------------------------------------------------------- data cases -----
def _missing_dataset(tmp: Path):
    from . import data

    data.load_fashion_mnist(tmp / "nowhere")


def _truncated_gz(tmp: Path):
    from . import data

    folder = _tiny_fmnist(tmp)
    f = folder / "train-images-idx3-ubyte.gz"
    f.write_bytes(f.read_bytes()[:60])
    data.load_fashion_mnist(folder, verify=False)


def _corrupt_checksum(tmp: Path):
    from . import data

    data.load_fashion_mnist(_tiny_fmnist(tmp), verify=True)


def _wrong_magic(tmp: Path):
    from . import data

    folder = _tiny_fmnist(tmp)
    _idx(folder / "t10k-images-idx3-ubyte.gz", np.zeros((10, 28, 28)), magic=0x801)
    data.load_fashion_mnist(folder, verify=False)


def _count_mismatch(tmp: Path):
    from . import data

    folder = _tiny_fmnist(tmp)
    _idx(folder / "train-labels-idx1-ubyte.gz", np.arange(17) % 10)
    data.load_fashion_mnist(folder, verify=False)


def _label_range(tmp: Path):
    from . import data

    folder = _tiny_fmnist(tmp)
    _idx(folder / "train-labels-idx1-ubyte.gz", np.full(20, 11))
    data.load_fashion_mnist(folder, verify=False)


# -------------------------------------------------------------------------- apparel cases -----
def _folder_no_images(tmp: Path):
    from . import apparel

    (tmp / "shirts").mkdir()
    (tmp / "shirts" / "notes.txt").write_text("no images here")
    apparel.load_folder(tmp, on_bad="warn")


def _class_of_one(tmp: Path):
    from . import apparel

    for i in range(4):
        _png(tmp / "tops" / f"{i}.png")
    _png(tmp / "scarves" / "0.png")
    src = apparel.load_folder(tmp)
    apparel.split_indices(src.labels, class_names=src.class_names)


def _non_image_file(tmp: Path):
    from . import apparel

    for i in range(3):
        _png(tmp / "tops" / f"{i}.png")
    (tmp / "tops" / "broken.jpg").write_bytes(b"this is not a jpeg")
    apparel.load_folder(tmp, on_bad="error")


def _sixteen_bit_image(tmp: Path):
    """Handled, not an error: a 16-bit greyscale PNG is scaled to 8 bits and made RGB."""
    from . import apparel

    arr = apparel.read_image(_png(tmp / "a.png", mode="I;16"))
    if arr.dtype == np.uint8 and arr.ndim == 3 and arr.shape[2] == 3:
        raise _Handled(f"{tmp / 'a.png'}: 16-bit greyscale read as {arr.shape} uint8 RGB")


def _csv_missing_column(tmp: Path):
    from . import apparel

    (tmp / "styles.csv").write_text("id,label\n1,Tshirts\n")
    apparel.load_csv(tmp / "styles.csv", path_column="path", label_column="label")


def _csv_missing_path(tmp: Path):
    from . import apparel

    _png(tmp / "a.png")
    (tmp / "list.csv").write_text("path,label\na.png,Tshirts\nmissing.png,Tshirts\n")
    apparel.load_csv(tmp / "list.csv", on_bad="error")


# ------------------------------------------------------------------------ parameter cases -----
def _resolve(notebook: str, overrides: dict, profile: str = "cpu"):
    from . import profiles, run

    declared = run.declared_parameters(run.read_source(run.notebook_path(notebook)))
    profiles.resolve(notebook, declared, profile, overrides)


def _param_case(notebook, overrides, profile="cpu"):
    return lambda tmp: _resolve(notebook, overrides, profile)


def _unknown_backbone(tmp: Path):
    from . import torch_models

    torch_models.build_model("resnet9000", num_classes=3)


def _unknown_optimizer(tmp: Path):
    from . import train_torch

    train_torch.TrainConfig(optimizer="adagrad").validate()


def _unknown_schedule(tmp: Path):
    from . import schedules

    schedules.make_schedule("warm_restarts")


def _unknown_backend(tmp: Path):
    from . import backend

    backend.use_backend("theano")


# -------------------------------------------------------------------------- weights cases -----
def _pretrained_absent(tmp: Path):
    from . import torch_models

    # downloads off, as on a machine without network: the weights must already be in the cache
    torch_models.create_backbone("deit_base_patch16_224", pretrained=True, allow_download=False)


def _corrupt_weights(tmp: Path):
    from . import torch_models

    (tmp / "deit.safetensors").write_bytes(b"\x00garbage" * 10)
    torch_models.read_weights_file(tmp / "deit.safetensors")


def _weights_other_model(tmp: Path):
    import torch
    from safetensors.torch import save_file

    from . import torch_models

    save_file({"conv.weight": torch.zeros(4, 3, 3, 3)}, str(tmp / "other.safetensors"))
    model = torch_models.build_model("deit_micro", num_classes=3, image_size=32)
    torch_models.load_model_weights(model, tmp / "other.safetensors")


def _corrupt_checkpoint(tmp: Path):
    from pathlib import Path as _P

    from . import train_torch

    (tmp / train_torch.CHECKPOINT_NAME).write_bytes(b"not a checkpoint")
    train_torch.load_checkpoint(_P(tmp / train_torch.CHECKPOINT_NAME), train_torch.TrainConfig())


def _corrupt_record(tmp: Path):
    from . import results

    (tmp / "cpu" / "nb").mkdir(parents=True)
    (tmp / "cpu" / "nb" / "run.json").write_text('{"provenance": ')
    results.load_records("nb", "cpu", tmp)


class _Handled(Exception):
    """Raised by cases whose correct outcome is 'handled without error'."""


CASES: list[Case] = [
    Case("missing dataset", "data", _missing_dataset, (FileNotFoundError,), "nowhere",
         "apt-get install dataset-fashion-mnist, set FASHION_MNIST_DIR, or download=True"),
    Case("truncated .gz", "data", _truncated_gz, (ValueError,), "train-images-idx3-ubyte.gz",
         "delete the file and fetch it again"),
    Case("corrupted content (SHA-256)", "data", _corrupt_checksum, (ValueError,), "SHA-256",
         "delete the file and fetch it again"),
    Case("wrong IDX magic number", "data", _wrong_magic, (ValueError,), "t10k-images-idx3-ubyte.gz",
         "check the file name; fetch it again"),
    Case("image/label count mismatch", "data", _count_mismatch, (ValueError,), "train-labels-idx1-ubyte.gz",
         "fetch both files again"),
    Case("labels out of range", "data", _label_range, (ValueError,), "label 11",
         "the file is from another dataset; fetch it again"),
    Case("apparel folder with no images", "apparel", _folder_no_images, (ValueError, FileNotFoundError),
         "no", "point at a folder with one sub-folder of images per class"),
    Case("apparel class with one image", "apparel", _class_of_one, (ValueError,), "scarves",
         "add images or drop small classes with min_images_per_class=3"),
    Case("unreadable / non-image file", "apparel", _non_image_file, (ValueError,), "broken.jpg",
         "remove or replace the file (or on_bad='warn' to skip it)"),
    Case("16-bit greyscale image (handled)", "apparel", _sixteen_bit_image, (_Handled,), "uint8 RGB",
         "nothing: converted to 8-bit RGB"),
    Case("CSV with a missing column", "apparel", _csv_missing_column, (ValueError,), "'path'",
         "pass path_column=/label_column= naming the right columns"),
    Case("CSV path that does not exist", "apparel", _csv_missing_path, (ValueError, FileNotFoundError),
         "missing.png", "restore the file or remove its row"),
    Case("unknown papermill parameter", "parameters", _param_case("a1_improved_cnn", {"epoch": 3}),
         (ValueError,), "'epoch'", "use a name the notebook declares (the message lists them)"),
    Case("wrong parameter type", "parameters", _param_case("a1_improved_cnn", {"epochs": "ten"}),
         (ValueError,), "'epochs'", "pass a value of the declared type"),
    Case("epochs <= 0", "parameters", _param_case("a1_improved_cnn", {"epochs": 0}), (ValueError,),
         "'epochs'", "epochs >= 1"),
    Case("batch size <= 0", "parameters", _param_case("a1_improved_cnn", {"batch_size": 0}), (ValueError,),
         "'batch_size'", "batch_size >= 1"),
    Case("learning rate <= 0", "parameters", _param_case("a1_improved_cnn", {"lr0": -0.1}), (ValueError,),
         "'lr0'", "a learning rate > 0"),
    Case("imbalance factor < 1", "parameters", _param_case("b1_apparel_data", {"imbalance_factor": 0.5}),
         (ValueError,), "'imbalance_factor'", "imbalance_factor >= 1 (1 = balanced)"),
    Case("unknown profile", "parameters", _param_case("a1_improved_cnn", {}, profile="fast"), (ValueError,),
         "'fast'", "smoke, cpu or paper"),
    Case("unknown backbone", "models", _unknown_backbone, (ValueError,), "resnet9000",
         "pick a backbone from the list in the message"),
    Case("unknown optimizer", "models", _unknown_optimizer, (ValueError,), "adagrad", "adam, rmsprop or sgd"),
    Case("unknown schedule", "models", _unknown_schedule, (ValueError,), "warm_restarts",
         "one of paper, constant, exponential, inverse_time, cosine"),
    Case("unknown Keras backend", "models", _unknown_backend, (ValueError,), "theano",
         "tensorflow, torch or jax"),
    Case("pretrained weights requested but absent", "weights", _pretrained_absent, (FileNotFoundError, ValueError),
         "deit", "download once online into the Hugging Face cache, or pass weights_file="),
    Case("corrupt weights file", "weights", _corrupt_weights, (ValueError,), "deit.safetensors",
         "download the file again"),
    Case("weights file for another model", "weights", _weights_other_model, (ValueError,), "other.safetensors",
         "use the weights of this backbone"),
    Case("corrupt training checkpoint", "resume", _corrupt_checkpoint, (ValueError,), "checkpoint",
         "delete it to start over, or use another ckpt_dir"),
    Case("corrupt results record", "results", _corrupt_record, (ValueError,), "run.json",
         "delete the record and re-run its notebook"),
]


def _temporary_files(folder: Path) -> list[str]:
    """Files an interrupted atomic write would leave: hidden temporaries, *.tmp, *.part."""
    return [str(p) for p in folder.rglob("*")
            if p.is_file() and (p.name.startswith(".") or p.suffix in (".tmp", ".part"))]


def run_case(case: Case, folder: Path | None = None) -> dict:
    """Run one case; return outcome, exception type, message and whether the folder was left unchanged."""
    with tempfile.TemporaryDirectory(prefix="fashionlib-case-") as tmp_name:
        tmp = Path(folder or tmp_name)
        tmp.mkdir(parents=True, exist_ok=True)
        outcome, exc_type, message = "no error raised", "", ""
        try:
            case.trigger(tmp)
        except case.expected as exc:
            exc_type, message = type(exc).__name__, str(exc)
            outcome = "handled" if isinstance(exc, _Handled) else "clear error"
            if case.mentions.lower() not in message.lower():
                outcome = f"error does not mention {case.mentions!r}"
        except Exception as exc:  # a wrong kind of error is a failed case, reported as such
            exc_type, message, outcome = type(exc).__name__, str(exc), "unexpected error type"
        leftovers = _temporary_files(tmp)
    return {"case": case.name, "area": case.area, "outcome": outcome, "exception": exc_type,
            "message": message, "temporary files left": len(leftovers), "fix": case.fix}


def run_catalogue() -> "pd.DataFrame":  # noqa: F821
    import pandas as pd

    return pd.DataFrame([run_case(c) for c in CASES])


if __name__ == "__main__":
    import pandas as pd

    table = run_catalogue()
    with pd.option_context("display.max_colwidth", 60, "display.width", 200):
        print(table[["area", "case", "outcome", "exception"]].to_string(index=False))
    ok = table["outcome"].isin(["clear error", "handled"]).sum()
    print(f"\n{ok} of {len(table)} bad-input cases end in a clear error (or are handled)")
