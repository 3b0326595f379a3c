"""Fashion-MNIST, real: find the IDX files, parse them with full validation, split them.

Search order for the four IDX ``.gz`` files (first directory holding all four wins):

1. an explicit ``path`` argument,
2. the ``FASHION_MNIST_DIR`` environment variable (when set, that folder must hold all four files:
   a missing folder or file is an error naming it, never a fall-back to another copy),
3. the user cache (``$FASHIONLIB_CACHE`` or ``$XDG_CACHE_HOME/fashionlib`` or ``~/.cache/fashionlib``),
4. the Debian directory ``/usr/share/datasets/fashion-mnist`` (package ``dataset-fashion-mnist``),
5. else a download from upstream into the cache, verified before it is moved into place.

Checksums are SHA-256 of the *decompressed* bytes: Debian re-compresses the files, so their gzip
bytes differ from upstream's while the IDX content is identical.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import struct
import urllib.request
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .files import atomic_write_bytes
from .rules import ParameterError, check_value

CLASS_NAMES = [
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
]
NUM_CLASSES = len(CLASS_NAMES)
SPLIT_TRAIN_IMAGES = 48_000  # the official training set minus the 12,000 validation images

FILES = {
    "train_images": "train-images-idx3-ubyte.gz",
    "train_labels": "train-labels-idx1-ubyte.gz",
    "test_images": "t10k-images-idx3-ubyte.gz",
    "test_labels": "t10k-labels-idx1-ubyte.gz",
}
# SHA-256 of the decompressed IDX bytes (identical for upstream and Debian's package).
SHA256 = {
    "train-images-idx3-ubyte.gz": "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",
    "train-labels-idx1-ubyte.gz": "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
    "t10k-images-idx3-ubyte.gz": "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
    "t10k-labels-idx1-ubyte.gz": "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34",
}
UPSTREAM_URL = "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"
DEBIAN_DIR = Path("/usr/share/datasets/fashion-mnist")
ENV_VAR = "FASHION_MNIST_DIR"

IMAGE_MAGIC = 0x00000803  # unsigned byte, 3 dimensions
LABEL_MAGIC = 0x00000801  # unsigned byte, 1 dimension

HOW_TO_GET = (
    "Install the Debian package (sudo apt-get install dataset-fashion-mnist), "
    f"set {ENV_VAR} to a folder holding the four IDX .gz files, "
    "or allow the download (download=True) on a machine with network access."
)


class DatasetError(ValueError):
    """A dataset file is missing, corrupt or inconsistent. The message names the file and the fix."""


@dataclass
class FashionMNIST:
    """The official Fashion-MNIST arrays: uint8 images (N, 28, 28) and uint8 labels (N,)."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    source: str


def cache_dir() -> Path:
    """The user cache folder for fashionlib downloads."""
    if os.environ.get("FASHIONLIB_CACHE"):
        return Path(os.environ["FASHIONLIB_CACHE"])
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "fashionlib"


def _has_all(folder: Path) -> bool:
    return all((folder / name).is_file() for name in FILES.values())


def candidate_dirs(path: str | os.PathLike | None = None) -> list[tuple[str, Path]]:
    """The folders searched for the IDX files, in order, with a label saying where each came from."""
    found = []
    if path is not None:
        found.append(("argument", Path(path)))
    if os.environ.get(ENV_VAR):
        found.append((f"${ENV_VAR}", Path(os.environ[ENV_VAR])))
    found.append(("cache", cache_dir() / "fashion-mnist"))
    found.append(("debian", DEBIAN_DIR))
    return found


def _missing_files(folder: Path) -> list[str]:
    return [n for n in FILES.values() if not (folder / n).is_file()]


def _folder_problem(folder: Path) -> str:
    """Why ``folder`` cannot be used ('' when it holds all four files)."""
    if not folder.is_dir():
        return f"{folder} does not exist" if not folder.exists() else f"{folder} is not a folder"
    missing = _missing_files(folder)
    return f"{folder} lacks {', '.join(missing)}" if missing else ""


def env_dir() -> Path | None:
    """The folder named by ``$FASHION_MNIST_DIR`` (None when unset); an error naming it when it does not
    hold all four files (the runner calls this before any work)."""
    if not os.environ.get(ENV_VAR):
        return None
    folder = Path(os.environ[ENV_VAR])
    problem = _folder_problem(folder)
    if problem:
        raise FileNotFoundError(
            f"Fashion-MNIST: ${ENV_VAR} is set to {folder}, but {problem}. Fix: set {ENV_VAR} to a folder "
            f"holding all four files ({', '.join(FILES.values())}), or unset it to use the cache or the "
            "Debian package."
        )
    return folder


def find_fashion_mnist(path: str | os.PathLike | None = None, download: bool = False) -> Path:
    """Return the folder holding the four IDX files, downloading into the cache if allowed.

    A folder named explicitly (``path``, or ``$FASHION_MNIST_DIR``) must hold all four files: a
    missing folder or file there is an error naming it, never a silent fall-back to another copy.
    """
    if path is not None:
        folder = Path(path)
        problem = _folder_problem(folder)
        if problem:
            raise FileNotFoundError(
                f"Fashion-MNIST: {problem}. "
                f"Point path= at a folder holding all four IDX .gz files. {HOW_TO_GET}"
            )
        return folder
    folder = env_dir()
    if folder is not None:
        return folder
    for _, folder in candidate_dirs():
        if _has_all(folder):
            return folder
    if download:
        return download_fashion_mnist(cache_dir() / "fashion-mnist")
    searched = "; ".join(_folder_problem(p) for _, p in candidate_dirs())
    raise FileNotFoundError(f"Fashion-MNIST not found (searched: {searched}). {HOW_TO_GET}")


def download_fashion_mnist(dest: Path, base_url: str = UPSTREAM_URL) -> Path:
    """Download the four files into ``dest``; each is verified in memory, then written atomically."""
    dest.mkdir(parents=True, exist_ok=True)
    for name in FILES.values():
        target = dest / name
        if target.is_file():
            continue
        with urllib.request.urlopen(base_url + name) as response:
            gz = response.read()
        try:
            raw = gzip.decompress(gz)
        except (OSError, EOFError, zlib.error) as exc:
            raise DatasetError(f"{base_url + name}: the download is truncated or corrupted ({exc}). "
                               "Fix: try again, or install the Debian package.") from exc
        verify_checksum(target, expected_name=name, raw=raw)
        atomic_write_bytes(target, gz)
    return dest


def _decompress(path: Path) -> bytes:
    try:
        with gzip.open(path, "rb") as fh:
            return fh.read()
    except (OSError, EOFError, zlib.error) as exc:
        raise DatasetError(
            f"{path} is truncated or corrupted ({exc.__class__.__name__}: {exc}). "
            f"Delete it and fetch it again. {HOW_TO_GET}"
        ) from exc


def verify_checksum(path: Path, expected_name: str | None = None, raw: bytes | None = None) -> None:
    """Check the SHA-256 of the decompressed bytes against the known value for this file name."""
    name = expected_name or Path(path).name
    if name not in SHA256:
        return
    raw = _decompress(Path(path)) if raw is None else raw
    digest = hashlib.sha256(raw).hexdigest()
    if digest != SHA256[name]:
        raise DatasetError(
            f"{path}: SHA-256 of the decompressed content is {digest[:16]}..., expected "
            f"{SHA256[name][:16]}... for {name}. The file is corrupt or not Fashion-MNIST; "
            f"delete it and fetch it again. {HOW_TO_GET}"
        )


def parse_idx(raw: bytes, path: Path, kind: str) -> np.ndarray:
    """Parse IDX bytes, validating the magic number, the declared dimensions and (labels) the range."""
    magic_expected = IMAGE_MAGIC if kind == "images" else LABEL_MAGIC
    ndim = 3 if kind == "images" else 1
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise DatasetError(f"{path}: only {len(raw)} bytes, too short for an IDX {kind} header. {HOW_TO_GET}")
    (magic,) = struct.unpack(">I", raw[:4])
    if magic != magic_expected:
        raise DatasetError(
            f"{path}: IDX magic number is 0x{magic:08x}, expected 0x{magic_expected:08x} for {kind}. "
            f"The file is not a Fashion-MNIST {kind} file; check the file name or fetch it again."
        )
    dims = struct.unpack(f">{ndim}I", raw[4:header])
    expected_len = header + int(np.prod(dims))
    if len(raw) != expected_len:
        raise DatasetError(
            f"{path}: header declares dimensions {dims} ({expected_len} bytes) but the file holds "
            f"{len(raw)} bytes. The file is truncated or padded; fetch it again."
        )
    if kind == "images" and dims[1:] != (28, 28):
        raise DatasetError(f"{path}: images are {dims[1]}x{dims[2]}, expected 28x28.")
    array = np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(dims)
    if kind == "labels" and array.size and array.max() >= NUM_CLASSES:
        raise DatasetError(
            f"{path}: label {int(array.max())} is out of range 0..{NUM_CLASSES - 1}. "
            "The file is corrupt or from another dataset; fetch it again."
        )
    return array


def read_idx(path: str | os.PathLike, kind: str, verify: bool = True) -> np.ndarray:
    """Read one IDX ``.gz`` file (``kind`` is 'images' or 'labels').

    The structure is checked first (gzip stream, magic number, declared size, label range), so a
    damaged file reports its specific fault; the SHA-256 comparison comes last.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"Fashion-MNIST file {path} does not exist. {HOW_TO_GET}")
    raw = _decompress(path)
    array = parse_idx(raw, path, kind)
    if verify:
        verify_checksum(path, raw=raw)
    return array


def _check_pair(images: np.ndarray, labels: np.ndarray, img_path: Path, lbl_path: Path) -> None:
    if len(images) != len(labels):
        raise DatasetError(
            f"{img_path} holds {len(images)} images but {lbl_path} holds {len(labels)} labels. "
            "The files do not belong together; fetch both again."
        )


def load_fashion_mnist(path: str | os.PathLike | None = None, download: bool = False,
                       verify: bool = True) -> FashionMNIST:
    """Load the official 60k/10k Fashion-MNIST arrays (see module docstring for the search order).

    Every structural fault (truncated stream or payload, wrong magic number, labels out of range,
    image/label count mismatch) is reported before a checksum mismatch: it says more about the file.
    """
    folder = find_fashion_mnist(path, download=download)
    arrays, raws = {}, {}
    for key, name in FILES.items():
        raws[key] = _decompress(folder / name)
        arrays[key] = parse_idx(raws[key], folder / name, "images" if key.endswith("images") else "labels")
    for split in ("train", "test"):
        _check_pair(arrays[f"{split}_images"], arrays[f"{split}_labels"],
                    folder / FILES[f"{split}_images"], folder / FILES[f"{split}_labels"])
    if verify:
        for key, name in FILES.items():
            verify_checksum(folder / name, raw=raws[key])
    return FashionMNIST(arrays["train_images"], arrays["train_labels"],
                        arrays["test_images"], arrays["test_labels"], source=str(folder))


def stratified_split(labels: np.ndarray, val_size: int | float = 12_000, seed: int = 0):
    """Seeded, stratified train/validation index split (48,000/12,000 for the paper).

    Uses scikit-learn's ``train_test_split`` (NumPy ``RandomState``): same indices on every machine.
    """
    from sklearn.model_selection import train_test_split

    idx = np.arange(len(labels))
    train_idx, val_idx = train_test_split(idx, test_size=val_size, stratify=labels, random_state=seed)
    return np.sort(train_idx), np.sort(val_idx)


def subsample_stratified(labels: np.ndarray, n: int | None, seed: int = 0) -> np.ndarray:
    """Indices of a stratified subset of size ``n`` (all indices when ``n`` is None or >= len)."""
    if n is None or n >= len(labels):
        return np.arange(len(labels))
    from sklearn.model_selection import train_test_split

    keep, _ = train_test_split(np.arange(len(labels)), train_size=n, stratify=labels, random_state=seed)
    return np.sort(keep)


def long_tailed_counts(n_max: int, num_classes: int, imbalance_factor: float) -> list[int]:
    """Per-class counts of an exponential long-tailed profile (as in CIFAR-10-LT, Cui et al. 2019).

    Class ``c`` keeps ``n_max * (1/imbalance_factor) ** (c / (C - 1))`` images, so the largest to
    smallest ratio equals ``imbalance_factor``.
    """
    check_value("imbalance_factor", imbalance_factor)
    if num_classes == 1:
        return [n_max]
    return [max(1, int(n_max * (1 / imbalance_factor) ** (c / (num_classes - 1)))) for c in range(num_classes)]


def long_tailed_indices(labels: np.ndarray, imbalance_factor: float, seed: int = 0,
                        n_max: int | None = None) -> np.ndarray:
    """Indices of a reproducible long-tailed subset of ``labels`` (class 0 largest, class C-1 smallest)."""
    classes = np.unique(labels)
    n_max = n_max or int(np.bincount(labels).min())
    counts = long_tailed_counts(n_max, len(classes), imbalance_factor)
    rng = np.random.default_rng(seed)
    keep = [rng.choice(np.flatnonzero(labels == c), size=k, replace=False) for c, k in zip(classes, counts)]
    return np.sort(np.concatenate(keep))


def train_size_problem(size: int | None, available: int = SPLIT_TRAIN_IMAGES) -> str | None:
    """Why a study-A ``train_size`` cannot be drawn from ``available`` training images (None if it can)."""
    if size is None:
        return None
    if size < NUM_CLASSES:
        return (f"parameter 'train_size' is {size}, below the {NUM_CLASSES} classes (a stratified "
                f"subsample needs one image per class). Fix: -p train_size {NUM_CLASSES} or more, "
                f"or None for all {available:,}.")
    if size > available:
        return (f"parameter 'train_size' is {size}, above the {available:,} training images of the split. "
                f"Fix: -p train_size {available} or less, or None for all.")
    return None


def prepare_data(fm: FashionMNIST | None = None, train_size: int | None = None, val_size: int = 12_000,
                 seed: int = 0) -> dict:
    """Split, subsample and normalise Fashion-MNIST for Keras; returns a dict of arrays.

    Keys: x_train, y_train, x_val, y_val, x_test, y_test (float32 images (N, 28, 28, 1), int32
    labels), mean, std, train_idx, val_idx. ``val_size`` images of the official training set are
    held out, stratified (12,000: the paper's 48,000 / 12,000 split; 0: train on all 60,000 with an
    empty validation split, as the Keras tutorials do). ``train_size`` (None = all) subsamples the
    training part, stratified; the validation part is then cut to at most
    ``max(train_size // 4, 100)`` images so that tiny runs stay tiny. Normalisation uses the
    training part's mean and standard deviation only.
    """
    fm = fm if fm is not None else load_fashion_mnist()
    if not (isinstance(val_size, int) and not isinstance(val_size, bool) and 0 <= val_size < len(fm.y_train)):
        raise ParameterError(f"val_size must be an integer >= 0 and below {len(fm.y_train)}, got {val_size!r}. "
                             "Fix: 12000 (the paper's split) or 0 (no validation split).")
    if val_size:
        train_idx, val_idx = stratified_split(fm.y_train, val_size=val_size, seed=seed)
    else:
        train_idx, val_idx = np.arange(len(fm.y_train)), np.arange(0)
    problem = train_size_problem(train_size, len(train_idx))
    if problem:
        raise ParameterError(problem)
    if train_size is not None:
        train_idx = train_idx[subsample_stratified(fm.y_train[train_idx], train_size, seed=seed)]
        if len(val_idx):
            n_val = min(max(train_size // 4, 100), len(val_idx))
            val_idx = val_idx[subsample_stratified(fm.y_train[val_idx], n_val, seed=seed)]
    x_tr = fm.x_train[train_idx]
    mean, std = normalisation_stats(x_tr)
    return {
        "x_train": normalise(x_tr, mean, std), "y_train": fm.y_train[train_idx].astype(np.int32),
        "x_val": normalise(fm.x_train[val_idx], mean, std), "y_val": fm.y_train[val_idx].astype(np.int32),
        "x_test": normalise(fm.x_test, mean, std), "y_test": fm.y_test.astype(np.int32),
        "mean": mean, "std": std, "train_idx": train_idx, "val_idx": val_idx,
    }


def normalisation_stats(images: np.ndarray) -> tuple[float, float]:
    """Mean and standard deviation of pixel values scaled to [0, 1]."""
    x = images.astype(np.float64) / 255.0
    return float(x.mean()), float(x.std())


def normalise(images: np.ndarray, mean: float, std: float) -> np.ndarray:
    """uint8 images (N, 28, 28) as the Keras models' float32 inputs (N, 28, 28, 1): pixels scaled to
    [0, 1], then standardised with a training set's ``mean`` and ``std`` (:func:`normalisation_stats`)."""
    return ((images.astype(np.float32) / 255.0 - mean) / std)[..., None].astype(np.float32)
