"""B3's re-run of the paper's hyper-parameter table: each row's recipe, trained on the same splits.

A row keeps the paper's batch size, learning rate, dropout, weight decay and optimizer
(``paper.EDGENET_HPARAMS``) and trains for the paper's epochs times a fraction (at least one epoch), so
that a reduced run still trains every row and the rows stay in the paper's proportions.
"""

from __future__ import annotations

from dataclasses import replace

import pandas as pd

from . import paper, report
from .torch_config import TrainConfig
from .torch_data import Splits
from .train_torch import as_run, fit


def train_rows(cfg: TrainConfig, splits: Splits, rows: list[int], epoch_fraction: float):
    """Train each row of ``rows`` (1 to 4, as the paper numbers them) with ``cfg`` and that row's recipe,
    on ``splits``; returns ``(table, runs)``.

    ``table``: one row per table row (index ``row``): epochs run, the last epoch's training and validation
    accuracy (%) and loss, validation macro F1, test accuracy (%) and minutes. ``runs``: the record's runs
    (setting: row, epochs_run and the row's optimizer, lr, batch_size, dropout, weight_decay).
    """
    table, runs = [], []
    for r in rows:
        hp = paper.EDGENET_HPARAMS[r - 1]
        ep = max(1, int(round(hp["epochs"] * epoch_fraction)))
        res = fit(replace(cfg, epochs=ep, batch_size=hp["batch_size"], lr=hp["lr"], dropout=hp["dropout"],
                          weight_decay=hp["weight_decay"], optimizer=hp["optimizer"]),
                  splits=splits, return_model=False)
        last = res["history"][-1]
        runs.append(as_run(res, {"row": r, "epochs_run": ep, "optimizer": hp["optimizer"], "lr": hp["lr"],
                                 "batch_size": hp["batch_size"], "dropout": hp["dropout"],
                                 "weight_decay": hp["weight_decay"]}))
        table.append({"row": r, "epochs run": ep, "train acc %": last["train_acc"], "train loss": last["train_loss"],
                      "val acc %": last["val_acc"], "val loss": last["val_loss"], "val macro F1": last["val_f1"],
                      "test acc %": res["test"]["acc"], "minutes": res["wall_s"] / 60})
    return pd.DataFrame(table).set_index("row"), runs


# The table's numbers that the paper prints for each row: (key in paper.EDGENET_HPARAMS, column of the table).
COMPARED = (("train_acc", "train acc %"), ("train_loss", "train loss"), ("val_acc", "val acc %"),
            ("val_loss", "val loss"))


def compare_with_paper(table: pd.DataFrame, record) -> pd.DataFrame:
    """The "paper vs reproduced" table of :func:`train_rows`' ``table``: for each row, its last-epoch
    training and validation accuracy and loss beside the paper's for that row, one seed each.

    ``record``: where the numbers come from (a record, ``{"provenance": ...}``), for the provenance
    columns. Labels: "row R (optimizer, lr LR): column"; :func:`report.compare_table` gives the columns.
    """
    compared = {}
    for r in table.index:
        hp = paper.EDGENET_HPARAMS[r - 1]
        for key, col in COMPARED:
            compared[f"row {r} ({hp['optimizer']}, lr {hp['lr']:g}): {col}"] = report.compare(
                [table.loc[r, col]], hp[key], record)
    return report.compare_table(compared)
