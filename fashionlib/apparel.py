"""Study B data: apparel images from a folder tree or a CSV, and the 59-class Fashion Product Images preset.

Every source becomes an :class:`ImageSource` (``labels``, ``class_names`` and ``image(i)`` returning
an RGB ``uint8`` array ``(H, W, 3)``), then :func:`split_indices` makes a seeded stratified
train/validation/test split, and ``torch_images.TorchImageDataset`` turns a split into tensors at the
backbone's size and normalisation (from timm's data config). The Fashion-MNIST stand-in's sets are in
``fmnist_standin``, a synthetic Fashion Product Images download in ``fpi_synthetic``.

Bad files: an unreadable or non-image file inside a folder tree or listed in a CSV is *skipped with a
warning that names it* (``on_bad="warn"``, the default: one broken JPEG among 44,000 should not stop
a run) or raises :class:`DatasetError` (``on_bad="error"``). Non-RGB images (grey, palette, CMYK,
RGBA, 16-bit) are converted to 8-bit RGB: 16-bit by scaling ``0..65535`` to ``0..255``, alpha
composited onto white (product photos have white backgrounds).
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from . import paper
from .data import DatasetError

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp")


class BadImageWarning(UserWarning):
    """An image file was skipped because it could not be read."""


# -------------------------------------------------------------------------- reading images -----
def to_rgb_array(img) -> np.ndarray:
    """A PIL image in any mode -> ``uint8`` RGB array (16-bit scaled, alpha over white)."""
    from PIL import Image

    mode = img.mode
    if mode in ("I;16", "I;16B", "I;16L", "I;16N", "I"):
        arr = np.asarray(img).astype(np.float64)
        top = 65535.0 if mode.startswith("I;16") or arr.max() > 255 else 255.0
        arr = np.clip(np.round(arr / top * 255.0), 0, 255).astype(np.uint8)
        return np.repeat(arr[..., None], 3, axis=2)
    if mode == "F":
        arr = np.asarray(img, dtype=np.float64)
        lo, hi = float(arr.min()), float(arr.max())
        arr = np.zeros_like(arr) if hi <= lo else (arr - lo) / (hi - lo) * 255.0
        return np.repeat(arr.round().astype(np.uint8)[..., None], 3, axis=2)
    if mode == "P" and "transparency" in img.info:
        img, mode = img.convert("RGBA"), "RGBA"
    if mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        rgba = img.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return np.asarray(Image.alpha_composite(white, rgba).convert("RGB"))
    if mode == "RGB":
        return np.asarray(img)
    arr = np.asarray(img.convert("RGB"))
    if arr.dtype != np.uint8:  # e.g. 16-bit RGB from some TIFF readers
        arr = (arr.astype(np.float64) / 65535.0 * 255.0).round().astype(np.uint8)
    return arr


def read_image(path: str | os.PathLike) -> np.ndarray:
    """Read one image file as ``uint8`` RGB; :class:`DatasetError` naming the file if it cannot."""
    from PIL import Image, UnidentifiedImageError

    path = Path(path)
    try:
        with Image.open(path) as img:
            img.load()
            return to_rgb_array(img)
    except FileNotFoundError as exc:
        raise DatasetError(f"image file {path} does not exist. Fix: check the path (or the CSV row).") from exc
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise DatasetError(
            f"{path} is not a readable image ({exc.__class__.__name__}: {exc}). Fix: delete or "
            "replace the file, or load with on_bad='warn' to skip it.") from exc


def _check_readable(path: Path, on_bad: str) -> bool:
    """Open and verify a file cheaply; False (with a warning naming it) when it is not an image."""
    from PIL import Image

    try:
        with Image.open(path) as img:
            img.verify()
        return True
    except Exception as exc:  # PIL raises many types for broken files
        msg = (f"{path} is not a readable image ({exc.__class__.__name__}: {exc}). Fix: delete or "
               "replace it.")
        if on_bad == "error":
            raise DatasetError(msg + " (or pass on_bad='warn' to skip bad files).") from exc
        warnings.warn("skipping " + msg, BadImageWarning, stacklevel=3)
        return False


# ---------------------------------------------------------------------------- image sources -----
@dataclass
class ImageSource:
    """Labelled images: either file paths or an in-memory ``uint8`` array (N, H, W) / (N, H, W, 3)."""

    labels: np.ndarray
    class_names: list[str]
    paths: list[str] | None = None
    arrays: np.ndarray | None = None
    name: str = ""
    skipped: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.labels)

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    def image(self, i: int) -> np.ndarray:
        if self.arrays is not None:
            a = self.arrays[i]
            return np.repeat(a[..., None], 3, axis=2) if a.ndim == 2 else a
        return read_image(self.paths[i])

    def subset(self, idx) -> "ImageSource":
        idx = np.asarray(idx)
        return ImageSource(self.labels[idx], list(self.class_names),
                           None if self.paths is None else [self.paths[i] for i in idx],
                           None if self.arrays is None else self.arrays[idx], self.name, list(self.skipped))


def _finish(paths: list[str], names: list[str], source_name: str, min_images_per_class: int,
            skipped: list[str]) -> ImageSource:
    if not paths:
        raise DatasetError(f"{source_name}: no readable images found. Fix: point it at a folder "
                           f"with images ({', '.join(IMAGE_SUFFIXES)}) in one sub-folder per class.")
    classes, counts = np.unique(np.asarray(names), return_counts=True)
    keep = set(classes[counts >= min_images_per_class])
    if not keep:
        raise DatasetError(f"{source_name}: no class has min_images_per_class={min_images_per_class} "
                           f"images (largest has {counts.max()}). Fix: lower min_images_per_class.")
    class_names = sorted(keep)
    lookup = {c: k for k, c in enumerate(class_names)}
    pairs = [(p, lookup[n]) for p, n in zip(paths, names) if n in keep]
    return ImageSource(np.array([k for _, k in pairs], dtype=np.int64), class_names,
                       paths=[p for p, _ in pairs], name=source_name, skipped=skipped)


def load_folder(root: str | os.PathLike, min_images_per_class: int = 1, on_bad: str = "warn",
                verify: bool = True) -> ImageSource:
    """One sub-folder per class (``root/<class>/<image>``); classes sorted by name."""
    root = Path(root)
    if on_bad not in ("warn", "error"):
        raise ValueError(f"on_bad must be 'warn' or 'error', got {on_bad!r}.")
    if not root.is_dir():
        raise FileNotFoundError(f"apparel folder {root} does not exist. Fix: pass a folder holding "
                                "one sub-folder of images per class.")
    paths, names, skipped = [], [], []
    for class_dir in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")):
        for f in sorted(class_dir.rglob("*")):
            if not f.is_file() or f.name.startswith("."):
                continue
            if verify and not _check_readable(f, on_bad):
                skipped.append(str(f))
                continue
            paths.append(str(f))
            names.append(class_dir.name)
    return _finish(paths, names, f"folder {root}", min_images_per_class, skipped)


def load_csv(csv_path: str | os.PathLike, path_column: str = "path", label_column: str = "label",
             image_root: str | os.PathLike | None = None, path_template: str = "{}",
             min_images_per_class: int = 1, on_bad: str = "warn", verify: bool = True,
             query=None) -> ImageSource:
    """A CSV of image path + label. Paths are ``image_root / path_template.format(row[path_column])``.

    ``query`` optionally filters rows (a callable taking the DataFrame, returning a boolean mask).
    Missing image files and unreadable files follow ``on_bad``.
    """
    import pandas as pd

    csv_path = Path(csv_path)
    if not csv_path.is_file():
        raise FileNotFoundError(f"CSV file {csv_path} does not exist. Fix: pass the path of the CSV "
                                "that lists image paths and labels.")
    try:
        df = pd.read_csv(csv_path, on_bad_lines="warn", dtype=str)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise DatasetError(f"CSV file {csv_path} cannot be parsed ({exc}). Fix: check that it is a "
                           "comma-separated file with a header row.") from exc
    return _source_from_frame(df, csv_path, path_column, label_column, image_root, path_template,
                              min_images_per_class, on_bad, verify, query)


def _source_from_frame(df, csv_path: Path, path_column: str, label_column: str, image_root, path_template: str,
                       min_images_per_class: int, on_bad: str, verify: bool, query) -> ImageSource:
    for col in (path_column, label_column):
        if col not in df.columns:
            raise DatasetError(f"CSV file {csv_path} has no column {col!r} (columns: "
                               f"{', '.join(map(str, df.columns))}). Fix: pass path_column=/label_column= "
                               "naming the right columns.")
    if query is not None:
        df = df[query(df)]
    df = df.dropna(subset=[path_column, label_column])
    root = Path(image_root) if image_root is not None else csv_path.parent
    paths, names, skipped = [], [], []
    for p, label in zip(df[path_column], df[label_column]):
        f = root / path_template.format(p)
        if not f.is_file():
            msg = f"{f} (listed in {csv_path}) does not exist."
            if on_bad == "error":
                raise DatasetError(msg + " Fix: restore the file or remove its row (or on_bad='warn').")
            warnings.warn("skipping " + msg, BadImageWarning, stacklevel=3)
            skipped.append(str(f))
            continue
        if verify and not _check_readable(f, on_bad):
            skipped.append(str(f))
            continue
        paths.append(str(f))
        names.append(str(label))
    return _finish(paths, names, f"CSV {csv_path}", min_images_per_class, skipped)


# The columns of Kaggle's Fashion Product Images ``styles.csv``, in order.
FPI_COLUMNS = ("id", "gender", "masterCategory", "subCategory", "articleType", "baseColour", "season",
               "year", "usage", "productDisplayName")


def read_styles_csv(csv_path: str | os.PathLike):
    """Kaggle's ``styles.csv`` as a DataFrame of strings, keeping the rows a plain CSV reader drops.

    A few rows of the real file carry an *unquoted* comma inside ``productDisplayName`` (the last
    column), so they have more than 10 fields: ``pandas.read_csv`` stops on them (or, with
    ``on_bad_lines``, silently loses those images). Here the extra fields are joined back into
    ``productDisplayName``. Quoted fields are read as CSV quotes them. A row with *fewer* fields
    than the header, or a header without the columns the preset needs, is a :class:`DatasetError`
    naming the line.
    """
    import csv

    import pandas as pd

    csv_path = Path(csv_path)
    if not csv_path.is_file():
        raise FileNotFoundError(f"{csv_path} does not exist. Fix: pass the folder that holds Kaggle's "
                                "styles.csv and images/ (the unzipped Fashion Product Images dataset).")
    try:
        with open(csv_path, newline="", encoding="utf-8") as fh:
            reader = csv.reader(fh)
            header = next(reader, None)
            if header is None:
                raise DatasetError(f"{csv_path} is empty. Fix: download styles.csv again.")
            header = [h.strip() for h in header]
            needed = [c for c in ("id", "subCategory", "articleType") if c not in header]
            if needed:
                raise DatasetError(f"{csv_path} has no column(s) {', '.join(map(repr, needed))} (columns: "
                                   f"{', '.join(header)}). Fix: pass the styles.csv of Fashion Product Images.")
            n = len(header)
            rows = []
            for row in reader:
                if not row or all(not f.strip() for f in row):
                    continue
                if len(row) > n:  # unquoted commas in the last column (productDisplayName)
                    row = row[:n - 1] + [",".join(row[n - 1:])]
                elif len(row) < n:
                    raise DatasetError(f"{csv_path}, line {reader.line_num}: {len(row)} fields, the header has "
                                       f"{n}. Fix: repair or delete that line.")
                rows.append(row)
    except UnicodeDecodeError as exc:
        raise DatasetError(f"{csv_path} is not UTF-8 text ({exc}). Fix: download styles.csv again.") from exc
    df = pd.DataFrame(rows, columns=header, dtype=str)
    return df.replace("", np.nan)


def load_fashion_product_images(root: str | os.PathLike, preset: str = "apparel59",
                                 min_images_per_class: int = 1, on_bad: str = "warn",
                                 verify: bool = True) -> ImageSource:
    """Kaggle "Fashion Product Images" (``root/styles.csv`` + ``root/images/<id>.jpg``).

    ``preset="apparel59"`` is our *inferred* match for the paper's 59 classes: the ``articleType``s
    whose ``subCategory`` is one of :data:`fashionlib.paper.FPI_APPAREL_SUBCATEGORIES` (the paper
    names neither the dataset nor the classes). ``preset="all"`` keeps every articleType.
    ``styles.csv`` is read by :func:`read_styles_csv` (rows with unquoted commas kept); rows whose
    image is missing follow ``on_bad`` (the real download lacks a few).
    """
    if preset not in ("apparel59", "all"):
        raise ValueError(f"preset must be 'apparel59' or 'all', got {preset!r}.")
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(
            f"Fashion Product Images folder {root} does not exist. Fix: download Kaggle's 'Fashion Product "
            "Images' (styles.csv + images/), unzip it and pass that folder as data_root.")
    query = None
    if preset == "apparel59":
        def query(df):
            return df["subCategory"].isin(paper.FPI_APPAREL_SUBCATEGORIES)
    csv_path = root / "styles.csv"
    df = read_styles_csv(csv_path)
    return _source_from_frame(df, csv_path, "id", "articleType", root / "images", "{}.jpg",
                              min_images_per_class, on_bad, verify, query)


def require_data(dataset: str, data_root=None) -> None:
    """Stop before any work when ``dataset`` needs files that are not there (message says how to get them).

    ``fashion_product_images`` needs ``data_root/styles.csv`` and ``data_root/images/``; ``folder``
    needs ``data_root`` to be a folder. ``fmnist_lt`` needs nothing here (Fashion-MNIST is checked
    when loaded).
    """
    if dataset == "fmnist_lt":
        return
    if not data_root:
        raise ValueError(f"dataset={dataset!r} needs data_root= (a folder). Fix: pass -p data_root <folder>.")
    root = Path(data_root).expanduser().resolve()
    if dataset == "fashion_product_images":
        missing = [p for p in (root / "styles.csv", root / "images") if not p.exists()]
        if missing:
            raise FileNotFoundError(
                f"dataset='fashion_product_images': {', '.join(map(str, missing))} not found (data_root="
                f"{data_root!r}). Fix: download Kaggle's 'Fashion Product Images' (styles.csv + images/), unzip "
                f"it to {root}, or pass -p data_root <its folder>; offline, use the stand-in dataset='fmnist_lt' "
                "(profile cpu).")
    elif not root.is_dir():
        raise FileNotFoundError(f"dataset={dataset!r}: data_root {root} is not a folder. Fix: pass the folder "
                                "that holds one sub-folder of images per class.")


# ----------------------------------------------------------------------------- report, split -----
def class_counts(source_or_labels, class_names=None):
    """A table of images per class, largest first, with share and cumulative share."""
    import pandas as pd

    if isinstance(source_or_labels, ImageSource):
        labels, class_names = source_or_labels.labels, source_or_labels.class_names
    else:
        labels = np.asarray(source_or_labels)
        class_names = class_names or [str(c) for c in range(int(labels.max()) + 1)]
    counts = np.bincount(labels, minlength=len(class_names))
    df = pd.DataFrame({"class": class_names, "images": counts}).sort_values("images", ascending=False)
    df["share"] = df["images"] / max(1, counts.sum())
    df["cumulative"] = df["share"].cumsum()
    return df.reset_index(drop=True)


SMALL_CLASS_POLICIES = ("train", "error")


def split_indices(labels, val_size: float = 0.15, test_size: float = 0.15, seed: int = 0,
                  class_names=None, small_classes: str = "error") -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Seeded stratified train/validation/test indices (each class in every split).

    A stratified split needs at least 3 images per class (one per split). For a class with fewer:
    ``small_classes="error"`` raises :class:`DatasetError` naming it; ``"train"`` puts all its
    images in the training split (the model keeps an output for it; validation and test cannot
    measure it: see :func:`small_class_names`). Study B uses ``"train"`` so that the 59-class preset
    trains 59 classes, as the paper's 59-neuron head does, although one class has a single image.
    """
    from sklearn.model_selection import train_test_split

    labels = np.asarray(labels)
    if not (0 < val_size < 1 and 0 <= test_size < 1 and val_size + test_size < 1):
        raise ValueError(f"val_size and test_size must be fractions in (0, 1) ([0, 1) for test_size: 0 when the "
                         f"test set is a separate one) with sum < 1, got {val_size} and {test_size}.")
    need = 3 if test_size > 0 else 2
    if small_classes not in SMALL_CLASS_POLICIES:
        raise ValueError(f"small_classes must be one of {', '.join(map(repr, SMALL_CLASS_POLICIES))}, "
                         f"got {small_classes!r}.")
    classes, counts = np.unique(labels, return_counts=True)
    small = [(str(class_names[c]) if class_names else int(c), int(n)) for c, n in zip(classes, counts) if n < need]
    if small and small_classes == "error":
        desc = ", ".join(f"{c!r} ({n} image{'s' if n != 1 else ''})" for c, n in small)
        raise DatasetError(
            f"a stratified train/validation/test split needs at least {need} images per class; "
            f"{desc} {'has' if len(small) == 1 else 'have'} fewer. Fix: add images, keep them in the "
            "training split only with small_classes='train', or drop small classes with "
            "min_images_per_class=3.")
    small_ids = classes[counts < need]
    train_only = np.flatnonzero(np.isin(labels, small_ids))
    idx = np.flatnonzero(~np.isin(labels, small_ids))
    if len(idx) == 0:
        raise DatasetError(f"no class has the 3 images a train/validation/test split needs (counts: "
                           f"{counts.tolist()}). Fix: use more images.")
    big = classes[counts >= need]
    n = len(idx)
    n_test = max(len(big), int(round(test_size * n))) if test_size > 0 else 0
    n_val = max(len(big), int(round(val_size * n)))
    try:
        if n_test:
            rest, test = train_test_split(idx, test_size=n_test, stratify=labels[idx], random_state=seed)
        else:
            rest, test = idx, idx[:0]
        train, val = train_test_split(rest, test_size=n_val, stratify=labels[rest], random_state=seed)
    except ValueError as exc:
        raise DatasetError(f"cannot split {n} images of {len(big)} classes into train/validation/"
                           f"test ({exc}). Fix: use more images or fewer classes.") from exc
    return np.sort(np.concatenate([train, train_only])), np.sort(val), np.sort(test)


def small_class_names(labels, class_names) -> list[str]:
    """Classes with fewer than 3 images: with ``small_classes="train"`` they are trained, never evaluated."""
    counts = np.bincount(np.asarray(labels), minlength=len(class_names))
    return [class_names[c] for c in range(len(class_names)) if 0 < counts[c] < 3]
