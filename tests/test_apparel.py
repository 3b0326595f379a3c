"""Study B apparel data: folder and CSV loading, conversions, split, and every bad input."""

import warnings

import numpy as np
import pytest
from PIL import Image

from fashionlib import apparel, fmnist_standin, paper, torch_images
from fashionlib.data import DatasetError


def _img(path, mode="RGB", size=(12, 10), value=128, fmt=None):
    path.parent.mkdir(parents=True, exist_ok=True)
    if mode == "I;16":
        Image.fromarray(np.full(size[::-1], value, np.uint16)).save(path)
    else:
        Image.new(mode, size, value if mode in ("L", "P", "I") else (value,) * len(mode)).save(path, format=fmt)
    return path


@pytest.fixture
def tree(tmp_path):
    root = tmp_path / "shop"
    for c, n in (("shirts", 5), ("socks", 4), ("dresses", 3)):
        for i in range(n):
            _img(root / c / f"{i}.{'png' if i % 2 else 'jpg'}", value=20 * i + 10)
    return root


def test_folder_tree_loads_classes_sorted(tree):
    src = apparel.load_folder(tree)
    assert src.class_names == ["dresses", "shirts", "socks"]
    assert np.bincount(src.labels).tolist() == [3, 5, 4]
    img = src.image(0)
    assert img.dtype == np.uint8 and img.shape == (10, 12, 3)


def test_min_images_per_class_filter(tree):
    src = apparel.load_folder(tree, min_images_per_class=4)
    assert src.class_names == ["shirts", "socks"]
    assert len(src) == 9


def test_class_count_report(tree):
    df = apparel.class_counts(apparel.load_folder(tree))
    assert df["class"].tolist() == ["shirts", "socks", "dresses"]
    assert df["images"].tolist() == [5, 4, 3]
    assert df["cumulative"].iloc[-1] == pytest.approx(1.0)


def test_split_is_stratified_and_seeded(tree):
    labels = np.repeat(np.arange(4), [40, 20, 10, 5])
    a = apparel.split_indices(labels, 0.2, 0.2, seed=3)
    b = apparel.split_indices(labels, 0.2, 0.2, seed=3)
    c = apparel.split_indices(labels, 0.2, 0.2, seed=4)
    assert all(np.array_equal(x, y) for x, y in zip(a, b))
    assert not np.array_equal(a[0], c[0])
    tr, va, te = a
    assert len(set(tr) | set(va) | set(te)) == len(labels) == len(tr) + len(va) + len(te)
    for part in a:
        assert set(labels[part]) == {0, 1, 2, 3}


def test_csv_loading(tmp_path, tree):
    rows = ["file,kind"] + [f"{p.parent.name}/{p.name},{p.parent.name}" for p in sorted(tree.rglob("*.*"))]
    csv = tree / "labels.csv"
    csv.write_text("\n".join(rows))
    src = apparel.load_csv(csv, path_column="file", label_column="kind")
    assert src.class_names == ["dresses", "shirts", "socks"] and len(src) == 12


def test_fashion_product_images_preset(tmp_path):
    root = tmp_path / "fpi"
    rows = ["id,gender,masterCategory,subCategory,articleType,baseColour"]
    spec = [(1, "Topwear", "Tshirts"), (2, "Topwear", "Tshirts"), (3, "Bottomwear", "Jeans"),
            (4, "Shoes", "Casual Shoes"), (5, "Socks", "Socks"), (6, "Watches", "Watches")]
    for i, sub, art in spec:
        rows.append(f"{i},Men,Apparel,{sub},{art},Blue")
        _img(root / "images" / f"{i}.jpg")
    (root / "styles.csv").write_text("\n".join(rows))
    src = apparel.load_fashion_product_images(root)
    assert src.class_names == ["Jeans", "Socks", "Tshirts"]  # shoes and watches are not apparel
    assert np.bincount(src.labels).tolist() == [1, 1, 2]
    assert "Topwear" in paper.FPI_APPAREL_SUBCATEGORIES
    assert len(apparel.load_fashion_product_images(root, preset="all").class_names) == 5


def test_long_tailed_fmnist_profile_and_seed(fmnist_dir):
    a = fmnist_standin.fmnist_long_tailed(10, n_max=100, seed=0)
    b = fmnist_standin.fmnist_long_tailed(10, n_max=100, seed=0)
    c = fmnist_standin.fmnist_long_tailed(10, n_max=100, seed=1)
    counts = np.bincount(a.labels, minlength=10)
    assert counts[0] == 100 and counts[-1] == 10 and all(np.diff(counts) <= 0)
    assert np.array_equal(a.arrays, b.arrays) and not np.array_equal(a.arrays, c.arrays)
    assert a.image(0).shape == (28, 28, 3)


def test_torch_dataset_resizes_to_three_channels(fmnist_dir):
    src = fmnist_standin.fmnist_long_tailed(10, n_max=20, seed=0)
    ds = torch_images.TorchImageDataset(src, np.arange(5), image_size=40, mean=(0.5,) * 3, std=(0.5,) * 3)
    x, y = ds[0]
    assert x.shape == (3, 40, 40) and isinstance(y, int)
    assert float(x.min()) >= -1.0001 and float(x.max()) <= 1.0001


def test_timm_eval_transform_uses_backbone_config():
    from fashionlib import torch_models

    m = torch_models.build_model("beit_micro", 3, image_size=32)
    cfg = torch_images.data_config(m, 32)
    assert cfg["input_size"] == (3, 32, 32) and cfg["mean"] == (0.5, 0.5, 0.5)
    t = torch_images.eval_transform(m, 32)
    assert tuple(t(Image.new("RGB", (50, 70))).shape) == (3, 32, 32)


# ----------------------------------------------------------------------- conversions -----
def test_16bit_image_is_scaled_not_clipped(tmp_path):
    p = _img(tmp_path / "deep.png", mode="I;16", value=65535)
    q = _img(tmp_path / "mid.png", mode="I;16", value=32896)  # 128 * 257
    assert apparel.read_image(p).max() == 255 and apparel.read_image(p).shape[-1] == 3
    assert apparel.read_image(q)[0, 0, 0] == 128


# expected RGB by hand: grey 100 -> (100,)*3; palette index 100 -> that entry; CMYK (100,)*4 ->
# (255-100)(255-100)/255 = 94.2 -> 94 per channel; a set bit of a 1-bit image -> white
@pytest.mark.parametrize("mode,value,rgb", [("L", 100, (100, 100, 100)), ("P", 100, (10, 20, 30)),
                                            ("CMYK", 100, (94, 94, 94)), ("1", 1, (255, 255, 255)),
                                            ("1", 0, (0, 0, 0))])
def test_non_rgb_modes_become_rgb(tmp_path, mode, value, rgb):
    fmt = "TIFF" if mode == "CMYK" else "PNG"
    if mode == "P":
        p = tmp_path / "x.png"
        img = Image.new("P", (12, 10), value)
        img.putpalette([0, 0, 0] * 100 + [10, 20, 30] + [0, 0, 0] * 155)
        img.save(p)
    else:
        p = _img(tmp_path / f"x.{fmt.lower()}", mode=mode, value=value, fmt=fmt)
    arr = apparel.read_image(p)
    assert arr.dtype == np.uint8 and arr.shape == (10, 12, 3)
    assert np.array_equal(arr, np.broadcast_to(np.array(rgb, np.uint8), (10, 12, 3))), np.unique(arr.reshape(-1, 3), axis=0)


def test_transparent_image_is_composited_on_white(tmp_path):
    p = tmp_path / "t.png"
    Image.new("RGBA", (4, 4), (0, 0, 0, 0)).save(p)
    assert apparel.read_image(p).min() == 255


# ------------------------------------------------------------------------- bad inputs -----
def test_folder_does_not_exist(tmp_path):
    with pytest.raises(FileNotFoundError, match="nowhere.*does not exist"):
        apparel.load_folder(tmp_path / "nowhere")


def test_min_images_per_class_is_the_fix_for_a_class_too_small_to_split(tree):
    # the catalogue's "apparel class with one image" checks the error; this checks that its fix works
    _img(tree / "belts" / "only.png")
    ok = apparel.load_folder(tree, min_images_per_class=3)
    assert "belts" not in ok.class_names
    apparel.split_indices(ok.labels, class_names=ok.class_names)


def test_unreadable_file_is_skipped_with_a_warning_naming_it(tree):
    bad = tree / "shirts" / "broken.jpg"
    bad.write_bytes(b"\xff\xd8\xff not really a jpeg")
    with pytest.warns(apparel.BadImageWarning, match="broken.jpg"):
        src = apparel.load_folder(tree)
    assert str(bad) in src.skipped and len(src) == 12


def test_non_image_file_is_skipped_with_a_warning(tree):
    (tree / "socks" / "notes.txt").write_text("sizes: S M L")
    with pytest.warns(apparel.BadImageWarning, match="notes.txt"):
        src = apparel.load_folder(tree)
    assert len(src) == 12


def test_read_image_of_a_non_image_names_it(tmp_path):
    p = tmp_path / "x.png"
    p.write_text("hello")
    with pytest.raises(DatasetError, match="x.png"):
        apparel.read_image(p)


def test_csv_path_does_not_exist(tmp_path):
    with pytest.raises(FileNotFoundError, match="missing.csv does not exist"):
        apparel.load_csv(tmp_path / "missing.csv")


def test_csv_row_pointing_to_missing_image(tmp_path, tree):
    csv = tree / "labels.csv"
    csv.write_text("path,label\nshirts/0.jpg,shirts\nshirts/gone.jpg,shirts\n")
    with pytest.warns(apparel.BadImageWarning, match="gone.jpg"):
        src = apparel.load_csv(csv)
    assert len(src) == 1  # on_bad="error": the catalogue's "CSV path that does not exist"


def test_imbalance_factor_below_one(fmnist_dir):
    with pytest.raises(ValueError, match="imbalance_factor"):
        fmnist_standin.fmnist_long_tailed(0.5)
