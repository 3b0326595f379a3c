"""Study B data: apparel images from a folder tree or a CSV, the 59-class preset, long-tailed Fashion-MNIST.

Every source becomes an :class:`ImageSource` (``labels``, ``class_names`` and ``image(i)`` returning
an RGB ``uint8`` array ``(H, W, 3)``), then :func:`split_indices` makes a seeded stratified
train/validation/test split, and :class:`TorchImageDataset` turns a split into tensors at the
backbone's size and normalisation (from timm's data config).

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

from . import data, paper
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


# A small stand-in of the real layout: (subCategory, articleType, images). Eight apparel
# sub-categories, a long tail down to one image, and rows that the apparel59 preset leaves out.
SYNTHETIC_FPI_CLASSES = (
    ("Topwear", "Tshirts", 24), ("Topwear", "Shirts", 16), ("Bottomwear", "Jeans", 12),
    ("Innerwear", "Briefs", 9), ("Dress", "Dresses", 7), ("Loungewear and Nightwear", "Nightdress", 6),
    ("Saree", "Sarees", 5), ("Socks", "Socks", 4), ("Apparel Set", "Clothing Set", 3),
    ("Bottomwear", "Rain Trousers", 2), ("Innerwear", "Shapewear", 1),
    # not apparel: the preset drops these
    ("Shoes", "Casual Shoes", 5), ("Watches", "Watches", 3),
)


def write_synthetic_fashion_product_images(root: str | os.PathLike, seed: int = 0, image_size=(60, 80),
                                           classes=SYNTHETIC_FPI_CLASSES, missing_images: int = 3):
    """Write a small dataset in the exact layout of Kaggle's Fashion Product Images; return its truth.

    ``root/styles.csv`` has the real ten columns (:data:`FPI_COLUMNS`); some ``productDisplayName``s
    hold a quoted comma and some an *unquoted* one (extra fields, as in the real file), one row has
    no ``year``. ``root/images/<id>.jpg`` are small JPEGs (``image_size`` = width, height as the
    real 60x80 version) drawn per class (a coloured garment-like block whose shape depends on the
    class), and ``missing_images`` ids listed in ``styles.csv`` have no image (as in the real
    download), taken from the largest apparel class. For tests and offline smoke runs of the
    real-data path; never a source of results.

    Returns a dict: ``apparel_counts`` (articleType -> readable images the apparel59 preset must
    find), ``missing`` (ids without image), ``unquoted_comma_ids`` and ``rows`` (rows written).
    """
    from PIL import Image, ImageDraw

    root = Path(root)
    (root / "images").mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    w, h = image_size
    lines = [",".join(FPI_COLUMNS)]
    truth = {"apparel_counts": {}, "missing": [], "unquoted_comma_ids": [], "rows": 0}
    largest = max((c for c in classes if c[0] in paper.FPI_APPAREL_SUBCATEGORIES), key=lambda c: c[2])
    next_id = 1001
    for k, (sub, article, n) in enumerate(classes):
        master = "Apparel" if sub in paper.FPI_APPAREL_SUBCATEGORIES else (
            "Footwear" if sub == "Shoes" else "Accessories")
        colour = np.array([(37 * k) % 200 + 40, (91 * k) % 200 + 40, (53 * k) % 200 + 40])
        for i in range(n):
            pid = next_id
            next_id += int(rng.integers(1, 40))  # ids are not contiguous in the real file
            gender = ("Men", "Women", "Boys", "Girls", "Unisex")[int(rng.integers(5))]
            year = "" if (k == 0 and i == 1) else str(2010 + int(rng.integers(9)))
            name = f"{gender} {article} {i}"
            if i % 5 == 2:
                name = f'"{name}, Pack of 2"'  # a quoted comma: valid CSV
            elif i % 5 == 3:
                name = f"{name}, Solid Colour"  # an unquoted comma: one field too many
                truth["unquoted_comma_ids"].append(pid)
            lines.append(",".join([str(pid), gender, master, sub, article, "Blue", "Summer", year, "Casual", name]))
            truth["rows"] += 1
            if article == largest[1] and len(truth["missing"]) < missing_images and i >= n - missing_images:
                truth["missing"].append(pid)
                continue
            img = Image.new("RGB", (w, h), (255, 255, 255))
            draw = ImageDraw.Draw(img)
            jitter = rng.integers(-4, 5, size=4)
            top, bottom = 8 + 3 * (k % 5) + jitter[0], h - 8 - 2 * (k % 4) + jitter[1]
            left, right = 6 + 2 * (k % 6) + jitter[2], w - 6 - 2 * (k % 3) + jitter[3]
            fill = tuple(int(v) for v in np.clip(colour + rng.integers(-20, 21, 3), 0, 255))
            if k % 3 == 0:
                draw.rectangle([left, top, right, bottom], fill=fill)
            elif k % 3 == 1:
                draw.ellipse([left, top, right, bottom], fill=fill)
            else:
                draw.polygon([(w // 2, top), (right, bottom), (left, bottom)], fill=fill)
            img.save(root / "images" / f"{pid}.jpg", quality=90)
            if sub in paper.FPI_APPAREL_SUBCATEGORIES:
                truth["apparel_counts"][article] = truth["apparel_counts"].get(article, 0) + 1
    (root / "styles.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return truth


# The Fashion-MNIST training set is cut once, per class, into two fixed halves: half A is the
# source of B0's pretraining, half B of every long-tailed fine-tuning set. The cut does not depend
# on any run's seed, so no image used for pretraining is ever seen again later.
FMNIST_HALVES_SEED = 20231101


def fmnist_halves(labels) -> tuple[np.ndarray, np.ndarray]:
    """Indices of halves A and B of the Fashion-MNIST training set: disjoint, each half of every class."""
    labels = np.asarray(labels)
    rng = np.random.default_rng(FMNIST_HALVES_SEED)
    a, b = [], []
    for c in np.unique(labels):
        idx = rng.permutation(np.flatnonzero(labels == c))
        a.append(idx[: len(idx) // 2])
        b.append(idx[len(idx) // 2:])
    return np.sort(np.concatenate(a)), np.sort(np.concatenate(b))


# B0's pretraining task: four coarse groups of the ten classes. The groups are what B0 learns; the ten
# fine labels, B2's targets, are never a training target of B0 (ImageNet's classes are not the apparel
# set's 59 either). Trouser and Bag are groups of one class each: the coarse task still separates them.
FMNIST_COARSE_GROUPS = {"tops": (0, 2, 3, 4, 6), "bottoms": (1,), "footwear": (5, 7, 9), "bags": (8,)}


def coarse_labels(fine) -> np.ndarray:
    """Fashion-MNIST's fine labels (0-9) -> coarse group ids (the order of :data:`FMNIST_COARSE_GROUPS`)."""
    lookup = np.full(10, -1, dtype=np.int64)
    for g, members in enumerate(FMNIST_COARSE_GROUPS.values()):
        lookup[list(members)] = g
    return lookup[np.asarray(fine, dtype=np.int64)]


def coarse_pick(coarse, pool, per_group: int, skip: int = 0) -> np.ndarray:
    """Indices (from ``pool``) of ``per_group`` images of every coarse group, after the first ``skip`` of each.

    ``pool`` is taken in a fixed shuffled order (its own seed), so the pick depends on the coarse groups
    only: two label sets that agree on the groups pick the same images.
    """
    coarse, pool = np.asarray(coarse), np.asarray(pool)
    order = pool[np.random.default_rng(FMNIST_HALVES_SEED + 1).permutation(len(pool))]
    picks = []
    for g in range(len(FMNIST_COARSE_GROUPS)):
        members = order[coarse[order] == g]
        if len(members) < skip + per_group:
            raise ValueError(f"coarse group {list(FMNIST_COARSE_GROUPS)[g]!r} has {len(members)} images in half A, "
                             f"fewer than the {skip + per_group} asked for. Fix: a smaller per_group.")
        picks.append(members[skip:skip + per_group])
    return np.sort(np.concatenate(picks))


def fmnist_pretraining_set(per_group: int = 2500, skip: int = 0, path=None) -> ImageSource:
    """B0's source: ``per_group`` images of each coarse group from half A, labelled by group only.

    The fine labels are read once, mapped to the groups (:func:`coarse_labels`) and dropped: the
    source's labels and class names are the four groups. ``skip``: leave out the first ``skip`` of each
    group (B0's held-out check of the coarse task takes the images after its training images). Half A
    holds 3,000 images of each class, so the one-class groups (Trouser, Bag) cap ``skip + per_group``.
    """
    for name, v, low in (("per_group", per_group, 1), ("skip", skip, 0)):
        if not (isinstance(v, int) and not isinstance(v, bool) and v >= low):
            raise ValueError(f"{name} must be an integer >= {low}, got {v!r}.")
    fm = data.load_fashion_mnist(path)
    half_a, _ = fmnist_halves(fm.y_train)
    coarse = coarse_labels(fm.y_train)
    keep = coarse_pick(coarse, half_a, per_group, skip=skip)
    return ImageSource(coarse[keep], list(FMNIST_COARSE_GROUPS), arrays=fm.x_train[keep],
                       name=f"Fashion-MNIST half A, {per_group} per coarse group (B0 pretraining)")


def fmnist_probe_set(per_class: int = 100, path=None) -> ImageSource:
    """B0's linear-probe data: the last ``per_class`` images of every class of half B (balanced, fine labels).

    A diagnostic of the pretrained features on the fine task; B0's training never sees these labels.
    """
    fm = data.load_fashion_mnist(path)
    _, half_b = fmnist_halves(fm.y_train)
    keep = np.sort(np.concatenate([half_b[fm.y_train[half_b] == c][-per_class:] for c in range(10)]))
    return ImageSource(fm.y_train[keep].astype(np.int64), list(data.CLASS_NAMES), arrays=fm.x_train[keep],
                       name=f"Fashion-MNIST half B, {per_class} per class (B0 linear probe)")


def fmnist_long_tailed(imbalance_factor: float = 100.0, n_max: int = 600, seed: int = 0,
                       path=None) -> ImageSource:
    """The offline stand-in: a long-tailed subset of half B of the Fashion-MNIST training images.

    Class ``c`` keeps ``n_max * imbalance_factor ** (-c / 9)`` images (exponential profile as in
    CIFAR-10-LT), so T-shirt/top is the head class and Ankle boot the rarest. Drawn from half B only
    (:func:`fmnist_halves`), so B0's pretraining images never appear here. Seeded: the same seed
    gives the same images on every machine.
    """
    from .rules import check_value

    check_value("imbalance_factor", imbalance_factor)  # before reading any data
    check_value("n_max", n_max)
    fm = data.load_fashion_mnist(path)
    _, half_b = fmnist_halves(fm.y_train)
    idx = half_b[data.long_tailed_indices(fm.y_train[half_b], imbalance_factor, seed=seed, n_max=n_max)]
    return ImageSource(fm.y_train[idx].astype(np.int64), list(data.CLASS_NAMES), arrays=fm.x_train[idx],
                       name=f"Fashion-MNIST long-tailed (imbalance {imbalance_factor:g}, n_max {n_max})")


def fmnist_test_sets(test_labels, balanced_per_class: int | None, lt_max: int | None,
                     imbalance_factor: float) -> dict[str, np.ndarray]:
    """The stand-in's two held-out sets, as indices into the official test set.

    ``balanced``: the first ``balanced_per_class`` images of every class (None: all 1,000).
    ``long_tailed`` (when ``lt_max`` is set): the first ``n_c`` images of class ``c``, with ``n_c`` the
    training data's long-tailed profile scaled to ``lt_max`` images in the largest class
    (:func:`data.long_tailed_counts`, at least one image per class): accuracy on it weighs the classes
    as the training data's class mix does, as a validation split of a long-tailed data set would.
    The same images for every run and seed.
    """
    labels = np.asarray(test_labels)
    per_class = [np.flatnonzero(labels == c) for c in range(int(labels.max()) + 1)]
    sets = {"balanced": np.sort(np.concatenate([ix[:balanced_per_class] for ix in per_class]))}
    if lt_max is not None:
        counts = data.long_tailed_counts(lt_max, len(per_class), imbalance_factor)
        sets["long_tailed"] = np.sort(np.concatenate([ix[:n] for ix, n in zip(per_class, counts)]))
    return sets


def fmnist_official_test(path=None) -> ImageSource:
    """The official Fashion-MNIST test set (10,000 images, 1,000 per class): the stand-in's test split."""
    fm = data.load_fashion_mnist(path)
    return ImageSource(fm.y_test.astype(np.int64), list(data.CLASS_NAMES), arrays=fm.x_test,
                       name="Fashion-MNIST official test set")


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


# -------------------------------------------------------------------------------- transforms -----
def data_config(model, image_size: int | None = None) -> dict:
    """timm's data config for a backbone (mean, std, interpolation), at ``image_size`` if given."""
    from timm.data import resolve_data_config

    backbone = getattr(model, "backbone", model)
    cfg = resolve_data_config({}, model=backbone)
    if image_size is not None:
        cfg["input_size"] = (3, image_size, image_size)
    return cfg


def eval_transform(model, image_size: int | None = None):
    """timm's evaluation transform (resize, centre crop, to tensor, normalise) for PIL images."""
    from timm.data import create_transform

    cfg = data_config(model, image_size)
    return create_transform(**cfg, is_training=False)


class TorchImageDataset:
    """A split as a torch dataset: ``(image tensor (3, S, S) normalised, label)``.

    ``augment`` flags the entries that get a random augmentation (the oversampled copies). The
    augmentation of entry ``k`` in epoch ``e`` is seeded by ``(seed, e, k)``, so results do not depend
    on worker count, process count (DDP) or interruptions.
    """

    def __init__(self, source: ImageSource, indices, image_size: int, mean, std,
                 augment=None, augmentation=None, seed: int = 0, interpolation: str = "bilinear"):
        import torch

        self.source, self.indices = source, np.asarray(indices, dtype=np.int64)
        self.image_size, self.seed, self.epoch = image_size, seed, 0
        self.augment = np.zeros(len(self.indices), bool) if augment is None else np.asarray(augment, bool)
        self.augmentation = augmentation
        self.mean = torch.tensor(mean, dtype=torch.float32).view(3, 1, 1)
        self.std = torch.tensor(std, dtype=torch.float32).view(3, 1, 1)
        self.interpolation = "bicubic" if interpolation == "bicubic" else "bilinear"
        self.labels = source.labels[self.indices]
        self._cache = None  # in-memory array sources resized once, kept as uint8 (up to ~1 GB)
        self._predecoded = None  # (entry -> row, uint8 images, mean, std), on the device, after predecode()
        if source.arrays is not None:
            uniq = np.unique(self.indices)
            if len(uniq) * 3 * image_size * image_size <= 2**30:
                chunks = [self._resize(torch.from_numpy(np.stack([source.image(int(i)) for i in part])))
                          .mul_(255).round_().to(torch.uint8) for part in np.array_split(uniq, max(1, len(uniq) // 512))]
                self._cache = (uniq, torch.cat(chunks))

    def _resize(self, batch):
        """uint8 (N, H, W, 3) -> float (N, 3, S, S) in [0, 1]."""
        import torch.nn.functional as F

        x = batch.permute(0, 3, 1, 2).float().div_(255.0)
        if x.shape[2:] != (self.image_size, self.image_size):
            x = F.interpolate(x, size=(self.image_size, self.image_size), mode=self.interpolation,
                              align_corners=False, antialias=True).clamp_(0, 1)
        return x

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.indices)

    def raw(self, k: int):
        """Entry ``k`` as a float tensor in [0, 1] at the target size, before normalisation."""
        import torch

        i = int(self.indices[k])
        if self._cache is not None:
            uniq, images = self._cache
            x = images[int(np.searchsorted(uniq, i))].float().div_(255.0)
        else:
            x = self._resize(torch.from_numpy(np.require(self.source.image(i), requirements=["C", "W"]))[None])[0]
        return self._augmented(x, k)

    def _augmented(self, x, k: int):
        """``x`` augmented when entry ``k`` is flagged; the draw is seeded by (seed, epoch, k) on the CPU RNG."""
        import torch

        if self.augment[k] and self.augmentation is not None:
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(hash((self.seed, self.epoch, int(k))) & 0x7FFFFFFF)
                x = self.augmentation(x.clone())
        return x

    def __getitem__(self, k: int):
        return (self.raw(k) - self.mean) / self.std, int(self.labels[k])

    # ---- pre-decoded path: every image decoded once to uint8, batches built from tensors ----
    def predecode(self, device="cpu", num_workers: int = 0) -> None:
        """Decode and resize every image of the split once into a uint8 tensor (N, 3, S, S) on ``device``.

        Afterwards :meth:`batch` builds normalised (and augmented) batches from that tensor: no JPEG
        decoding, PIL or per-image resizing per step, and on a GPU no host-to-device copy of images.
        In-memory sources are already cached this way (the same uint8 values, so the same batches as
        ``__getitem__``); image files are resized in float and rounded to uint8 once, which differs from
        the default path (float, unrounded) by at most half a grey level. ``num_workers`` processes decode.
        """
        import torch

        device = torch.device(device)
        if self._predecoded is not None and self._predecoded[1].device == device:
            return
        if self._cache is not None:
            uniq, images = self._cache
        else:
            uniq = np.unique(self.indices)
            loader = torch.utils.data.DataLoader(_DecodeOnce(self, uniq), batch_size=64, num_workers=num_workers,
                                                 generator=torch.Generator())  # the global RNG untouched
            images = torch.cat([b for b in loader]) if len(uniq) else torch.zeros(0, 3, self.image_size,
                                                                                   self.image_size, dtype=torch.uint8)
        # (N, 3, S, S) contiguous, as a DataLoader stacks the entries: the same memory layout, the same numbers
        self._predecoded = (np.searchsorted(uniq, self.indices), images.to(device).contiguous(),
                            self.mean.to(device), self.std.to(device))

    def batch(self, ks):
        """Entries ``ks`` as (normalised float images (B, 3, S, S), labels (B,)) on the device of :meth:`predecode`."""
        import torch

        if self._predecoded is None:
            raise RuntimeError("TorchImageDataset.batch needs the images decoded once first. Fix: call "
                               "predecode(device) (TrainConfig(predecode=True) does).")
        pos, images, mean, std = self._predecoded
        ks = np.asarray(ks, dtype=np.int64)
        # non_blocking: the small index and label copies do not wait for the GPU's queued work
        x = images[torch.from_numpy(pos[ks]).to(images.device, non_blocking=True)].float().div_(255.0)
        for j in np.flatnonzero(self.augment[ks]):
            x[j] = self._augmented(x[j], int(ks[j]))
        return (x - mean) / std, torch.from_numpy(self.labels[ks]).to(images.device, non_blocking=True)


class _DecodeOnce:
    """Images ``uniq`` of a :class:`TorchImageDataset`'s source as uint8 (3, S, S): the one decoding pass."""

    def __init__(self, ds: TorchImageDataset, uniq):
        self.ds, self.uniq = ds, uniq

    def __len__(self) -> int:
        return len(self.uniq)

    def __getitem__(self, j: int):
        import torch

        image = torch.from_numpy(np.require(self.ds.source.image(int(self.uniq[j])), requirements=["C", "W"]))
        return self.ds._resize(image[None])[0].mul_(255).round_().to(torch.uint8)
