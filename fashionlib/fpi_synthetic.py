"""A synthetic Fashion Product Images download, for tests and offline smoke runs of the real-data path.

:func:`write_synthetic_fashion_product_images` writes ``styles.csv`` and ``images/<id>.jpg`` in the
exact layout of Kaggle's dataset (its quirks included) and returns what ``apparel``'s readers must
find in it. Never a source of results.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from . import paper
from .apparel import FPI_COLUMNS


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

