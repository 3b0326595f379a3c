"""The real-data path offline: a synthetic Fashion Product Images folder through the apparel59 preset."""

import numpy as np
import pandas as pd
import pytest

from fashionlib import apparel, fpi_synthetic, paper
from fashionlib.data import DatasetError
from fashionlib.train_torch import TrainConfig, fit, make_splits

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def fpi(tmp_path_factory):
    root = tmp_path_factory.mktemp("fpi")
    truth = fpi_synthetic.write_synthetic_fashion_product_images(root, seed=0)
    return root, truth


def test_layout_is_kaggles(fpi):
    root, truth = fpi
    header = (root / "styles.csv").read_text().splitlines()[0]
    assert header == "id,gender,masterCategory,subCategory,articleType,baseColour,season,year,usage,productDisplayName"
    subs = set(apparel.read_styles_csv(root / "styles.csv")["subCategory"])
    assert set(paper.FPI_APPAREL_SUBCATEGORIES) <= subs and len(subs) > 8  # eight apparel + others
    assert min(truth["apparel_counts"].values()) == 1  # a long tail down to one image
    for pid in truth["missing"]:
        assert not (root / "images" / f"{pid}.jpg").exists()
    assert len(truth["missing"]) == 3 and truth["unquoted_comma_ids"]


def test_naive_csv_parsing_breaks_on_it(fpi):
    root, _ = fpi
    with pytest.raises(pd.errors.ParserError):
        pd.read_csv(root / "styles.csv")


def test_styles_reader_keeps_every_row(fpi):
    root, truth = fpi
    df = apparel.read_styles_csv(root / "styles.csv")
    assert len(df) == truth["rows"]
    assert list(df.columns) == list(apparel.FPI_COLUMNS)
    row = df[df["id"] == str(truth["unquoted_comma_ids"][0])].iloc[0]
    assert row["productDisplayName"].endswith(", Solid Colour") and row["usage"] == "Casual"
    assert df["productDisplayName"].str.contains(", Pack of 2").any()  # quoted comma read as CSV
    assert df["year"].isna().sum() == 1


def test_styles_reader_short_row_names_the_line(tmp_path):
    (tmp_path / "styles.csv").write_text(",".join(apparel.FPI_COLUMNS) + "\n1,Men,Apparel,Topwear\n")
    with pytest.raises(DatasetError, match="line 2: 4 fields"):
        apparel.read_styles_csv(tmp_path / "styles.csv")


def test_apparel59_preset_finds_exactly_the_readable_apparel_images(fpi):
    root, truth = fpi
    with pytest.warns(apparel.BadImageWarning, match="does not exist"):
        src = apparel.load_fashion_product_images(root, preset="apparel59")
    counts = dict(zip(src.class_names, np.bincount(src.labels).tolist()))
    assert counts == truth["apparel_counts"]
    assert len(src.skipped) == len(truth["missing"])
    with pytest.raises(DatasetError, match="does not exist"):
        apparel.load_fashion_product_images(root, on_bad="error")


def test_missing_folder_says_how_to_get_the_data(tmp_path):
    with pytest.raises(FileNotFoundError, match="Fashion Product Images.*data_root"):
        apparel.load_fashion_product_images(tmp_path / "nowhere")


def test_small_classes_train_only(fpi):
    root, truth = fpi
    cfg = TrainConfig(dataset="fashion_product_images", data_root=str(root), balance="none")
    with pytest.warns(apparel.BadImageWarning):
        splits = make_splits(cfg)
    labels, names = splits.source.labels, splits.class_names
    assert len(names) == len(truth["apparel_counts"])  # every class kept, the class of one included
    train = np.bincount(labels[splits.train_idx], minlength=len(names))
    assert (train > 0).all()
    small = apparel.small_class_names(labels, names)
    assert set(small) == {c for c, n in truth["apparel_counts"].items() if n < 3}
    for c in small:
        k = names.index(c)
        assert train[k] == truth["apparel_counts"][c]
        assert k not in labels[splits.val_idx] and k not in labels[splits.test_idx]
    with pytest.raises(DatasetError, match="Shapewear.*small_classes='train'"):
        apparel.split_indices(labels, class_names=names)


def test_apparel59_end_to_end_trains_every_class(fpi):
    root, truth = fpi
    cfg = TrainConfig(dataset="fashion_product_images", data_root=str(root), backbone="deit_micro",
                      image_size=16, epochs=1, batch_size=16, balance="resample", balance_target=6,
                      progress=False)
    with pytest.warns(apparel.BadImageWarning):
        r = fit(cfg, return_model=False)
    assert r["class_names"] == sorted(truth["apparel_counts"])
    assert r["counts"]["train_before"] == [truth["apparel_counts"][c] - _held_out(r, c) for c in r["class_names"]]
    assert set(r["counts"]["train_after"]) == {6}
    assert 0 <= r["test"]["acc"] <= 100 and 0 <= r["test"]["balanced_acc"] <= 100


def _held_out(r, c):
    k = r["class_names"].index(c)
    return r["counts"]["val"][k] + r["counts"]["test"][k]
