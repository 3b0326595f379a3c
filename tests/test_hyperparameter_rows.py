"""hyperparameter_rows: each of B3's rows trains with its own recipe at a fraction of its
epochs, on the splits it is given, and the table and the record hold that row's numbers.

The first test replaces ``fit`` and ``as_run`` with stand-ins that record what they are given, so the
rows' recipes are checked in a blink; the second trains one row for real at a tiny size. The third checks
``compare_with_paper``: each row of a hand-made table beside the paper's numbers of that row.
"""


import pandas as pd
import pytest

pytest.importorskip("torch")

from fashionlib import hyperparameter_rows, paper  # noqa: E402
from fashionlib.train_torch import TrainConfig, make_splits  # noqa: E402

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def test_each_row_trains_with_its_recipe_and_records_it(monkeypatch):
    calls = []

    def fake_fit(cfg, splits=None, return_model=True):
        assert splits == "the splits" and not return_model
        calls.append(cfg)
        acc = 10.0 * len(calls)
        return {"history": [{"train_acc": 0.0}, {"train_acc": acc, "train_loss": 1.5, "val_acc": acc + 1,
                                                  "val_loss": 1.0, "val_f1": acc + 2}],
                "test": {"acc": acc + 3}, "wall_s": 60.0 * len(calls)}

    monkeypatch.setattr(hyperparameter_rows, "fit", fake_fit)
    monkeypatch.setattr(hyperparameter_rows, "as_run", lambda res, setting: {"setting": setting, "test": res["test"]})
    cfg = TrainConfig(backbone="beit_micro", edgenet=True, balance="resample", seed=3)
    table, runs = hyperparameter_rows.train_rows(cfg, "the splits", [3, 1], 0.02)
    recipes = [(c.epochs, c.batch_size, c.lr, c.dropout, c.weight_decay, c.optimizer) for c in calls]
    assert recipes == [(1, 64, 0.0001, 0.1, 0.001, "sgd"), (1, 32, 0.001, 0.05, 0.001, "rmsprop")], \
        "each row's recipe; 56 and 45 epochs x 0.02 round to 1"
    assert all((c.backbone, c.edgenet, c.balance, c.seed) == ("beit_micro", True, "resample", 3) for c in calls)
    assert runs[0] == {"setting": {"row": 3, "epochs_run": 1, "optimizer": "sgd", "lr": 0.0001, "batch_size": 64,
                                   "dropout": 0.1, "weight_decay": 0.001}, "test": {"acc": 13.0}}
    assert list(table.index) == [3, 1] and table.index.name == "row"
    assert table.loc[1].to_dict() == {"epochs run": 1, "train acc %": 20.0, "train loss": 1.5, "val acc %": 21.0,
                                      "val loss": 1.0, "val macro F1": 22.0, "test acc %": 23.0, "minutes": 2.0}
    table, _ = hyperparameter_rows.train_rows(cfg, "the splits", [2], 0.5)
    assert calls[-1].epochs == 38 == table.loc[2, "epochs run"], "76 epochs at half"


def test_a_tiny_row_trains_for_real_and_its_table_matches_its_record(fmnist_dir):
    cfg = TrainConfig(dataset="fmnist_lt", imbalance_factor=10.0, n_max=60, balance="resample", balance_target=4,
                      backbone="deit_micro", image_size=16, batch_size=16, progress=False, seed=0)
    splits = make_splits(cfg)
    table, runs = hyperparameter_rows.train_rows(cfg, splits, [2], 0.01)
    m, hp = runs[0]["metrics"], paper.EDGENET_HPARAMS[1]
    assert runs[0]["setting"] == {"row": 2, "epochs_run": 1, "optimizer": "adam", "lr": hp["lr"],
                                  "batch_size": hp["batch_size"], "dropout": hp["dropout"],
                                  "weight_decay": hp["weight_decay"]}
    assert len(runs[0]["history"]["val_acc"]) == 1, "76 epochs x 0.01 rounds to 1"
    row = table.loc[2]
    assert row.to_dict() == {"epochs run": 1, "train acc %": m["train_accuracy"], "train loss": m["train_loss"],
                             "val acc %": m["val_accuracy"], "val loss": m["val_loss"],
                             "val macro F1": m["val_macro_f1"], "test acc %": m["accuracy"], "minutes": row["minutes"]}
    assert row["minutes"] > 0


def test_each_row_is_compared_with_its_own_row_of_the_paper():
    """compare_with_paper on a hand-made table (no training): the labels, and each row's four numbers
    beside the paper's numbers of the same row and the same column."""
    cols = ["train acc %", "train loss", "val acc %", "val loss"]
    ours = pd.DataFrame({"row": [3, 1], "epochs run": [1, 1], "train acc %": [40.0, 10.0], "train loss": [4.0, 1.0],
                         "val acc %": [50.0, 20.0], "val loss": [5.0, 2.0]}).set_index("row")
    record = {"provenance": {"profile": "smoke", "device": {"accelerator": "cpu"}, "git_commit": "abcdef1234567"}}
    table = hyperparameter_rows.compare_with_paper(ours, record)
    assert list(table.index) == [f"row 3 (sgd, lr 0.0001): {c}" for c in cols] + \
        [f"row 1 (rmsprop, lr 0.001): {c}" for c in cols]
    keys = {"train acc %": "train_acc", "train loss": "train_loss", "val acc %": "val_acc", "val loss": "val_loss"}
    for r, label in ((3, "row 3 (sgd, lr 0.0001)"), (1, "row 1 (rmsprop, lr 0.001)")):
        hp = paper.EDGENET_HPARAMS[r - 1]
        for c in cols:
            line = table.loc[f"{label}: {c}"]
            assert float(line["paper"]) == pytest.approx(hp[keys[c]], abs=0.005), (r, c)
            assert float(line["mean"]) == ours.loc[r, c], (r, c)
            assert float(line["difference"]) == pytest.approx(ours.loc[r, c] - hp[keys[c]], abs=0.01), (r, c)
            assert line["n"] == 1 and line["std"] == "" and line["95% CI"] == "", "one seed: no spread"
            assert (line["profile"], line["device"], line["commit"]) == ("smoke", "cpu", "abcdef1234")
