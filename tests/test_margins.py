"""margins.margin_table: the paper's margins beside ours, paired only within one environment."""

import pandas as pd
import pytest

from fashionlib import paper
from fashionlib.margins import margin_table


def _runs(model, env, accs):
    return [{"model": model, "env": env, "seed": s, "accuracy": a, "record": f"{model}.json", "profile": "paper",
             "device": env.split(",")[0], "commit": "abc"} for s, a in enumerate(accs)]


def test_margins_pair_in_one_environment_and_say_why_not_otherwise():
    committed = pd.DataFrame(_runs("improved_cnn", "gpu, jax", [92.0, 93.0, 91.0]) + _runs("cnn", "gpu, jax", [90.0, 90.5, 90.0])
                             + _runs("lenet5", "cpu, tensorflow", [89.0, 89.0]))
    t = margin_table(committed)
    assert list(t.index) == ["improved CNN minus " + paper.JICT_MODEL_LABELS[m] for m in ("cnn", "lenet5", "lstm", "bilstm")]
    cnn = t.iloc[0]
    assert cnn["reproduced (paired)"] == pytest.approx(round((2.0 + 2.5 + 1.0) / 3, 2)) and cnn["n pairs"] == 3
    assert cnn["status"] == "paired on gpu, jax" and cnn["paper (abstract)"] == paper.JICT_HEADLINE["abstract_gain_over_cnn"]
    assert cnn["paper (Table 2)"] == round(paper.JICT_TABLE2["improved_cnn"]["accuracy"] - paper.JICT_TABLE2["cnn"]["accuracy"], 2)
    assert t.iloc[1]["status"].startswith("not comparable: improved_cnn ran on gpu, jax; lenet5 on cpu, tensorflow")
    assert list(t["status"][2:]) == ["no committed paper-profile runs of both"] * 2
    assert pd.isna(t.iloc[1]["paper (abstract)"])


def test_no_committed_runs_leaves_every_margin_unmeasured():
    t = margin_table(pd.DataFrame())
    assert set(t["status"]) == {"no committed paper-profile runs of both"} and "reproduced (paired)" not in t
