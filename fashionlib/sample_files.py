"""Small data files made on the spot: gzip IDX files (valid, or with a chosen magic number) and PNG images.

The bad-input catalogue (:mod:`fashionlib.catalogue`) builds its damaged inputs from them, and the tests
use them as fixtures (``tests/conftest.py``).
"""

from __future__ import annotations

import gzip
import struct
from pathlib import Path

import numpy as np


def write_idx_gz(path: Path, array: np.ndarray, magic: int | None = None) -> Path:
    """Write a small IDX file (gzip), with the right magic number unless ``magic`` is given."""
    magic = magic if magic is not None else (0x803 if array.ndim == 3 else 0x801)
    with gzip.open(path, "wb") as fh:
        fh.write(struct.pack(">I", magic) + struct.pack(f">{array.ndim}I", *array.shape)
                 + array.astype(np.uint8).tobytes())
    return path


def tiny_fashion_mnist(folder: Path, n_train: int = 20, n_test: int = 10) -> Path:
    """Four small, valid IDX files (random images, labels 0..9 in turn); read them with verify=False."""
    rng = np.random.default_rng(0)
    for split, n in (("train", n_train), ("t10k", n_test)):
        write_idx_gz(folder / f"{split}-images-idx3-ubyte.gz", rng.integers(0, 255, (n, 28, 28)))
        write_idx_gz(folder / f"{split}-labels-idx1-ubyte.gz", np.arange(n) % 10)
    return folder


def write_png(path: Path, mode: str = "RGB", size=(8, 8)) -> Path:
    """A small random PNG (RGB, L or 16-bit greyscale ``I;16``)."""
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    arr = np.random.default_rng(0).integers(0, 255, (*size, 3) if mode == "RGB" else size)
    if mode == "I;16":
        Image.fromarray((arr * 257).astype(np.uint16)).save(path)
    else:
        Image.fromarray(arr.astype(np.uint8), mode if mode != "RGB" else None).save(path)
    return path
