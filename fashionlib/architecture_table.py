"""The paper's Table 1 (the improved CNN's layers) beside the two readings we build of it.

Table 1's stride and output-size columns disagree; ``improved_cnn`` follows the output sizes,
``improved_cnn_strided`` the strides. One row per layer of the table: the paper's stride, output and
dropout, and each reading's output shape and parameter count (the input layer "I": 28x28x1, no
parameters).
"""

from __future__ import annotations

from . import keras_models, paper


def table1_readings(default, strided):
    """Table 1 with each reading's output and parameters per layer; ``default``, ``strided``: the built
    ``improved_cnn`` and ``improved_cnn_strided`` Keras models."""
    import pandas as pd

    t_def = keras_models.layer_table(default).set_index("layer")
    t_str = keras_models.layer_table(strided).set_index("layer")
    rows = []
    for row in paper.JICT_TABLE1:
        name = row["layer"]
        rows.append({
            "layer": name, "type": row["type"],
            "paper stride": row["stride"], "paper output": row["output"], "paper dropout": row["dropout"],
            "default output": t_def["output"].get(name, "28x28x1" if name == "I" else None),
            "default params": int(t_def["params"].get(name, 0)),
            "strided output": t_str["output"].get(name, "28x28x1" if name == "I" else None),
            "strided params": int(t_str["params"].get(name, 0)),
        })
    return pd.DataFrame(rows).set_index("layer")
