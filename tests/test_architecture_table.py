"""architecture_table.table1_readings: Table 1 beside the two readings' layers."""

import pytest

pytest.importorskip("keras")

from fashionlib import architecture_table, keras_models, paper  # noqa: E402


def test_every_table1_layer_has_both_readings_outputs_and_parameters():
    default, strided = keras_models.build_model("improved_cnn"), keras_models.build_model("improved_cnn_strided")
    t = architecture_table.table1_readings(default, strided)
    assert list(t.index) == [row["layer"] for row in paper.JICT_TABLE1]
    assert list(t["paper output"]) == [row["output"] for row in paper.JICT_TABLE1]
    assert t.loc["I", "default output"] == t.loc["I", "strided output"] == "28x28x1"
    assert t.loc["I", "default params"] == 0
    assert t["default params"].sum() == default.count_params(), "every layer with weights is a Table 1 row"
    assert t["strided params"].sum() == strided.count_params()
    assert t["default output"].ne(t["strided output"]).any(), "the two readings differ in some output size"
