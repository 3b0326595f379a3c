"""plots.setting_heatmaps: each panel shows the per-cell mean of its metric, labelled."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

from fashionlib import plots  # noqa: E402


def test_setting_heatmaps_annotate_each_cells_mean():
    frame = pd.DataFrame({"family": ["BEiT", "BEiT", "BEiT", "Swin"], "setting": ["none", "none", "resample", "none"],
                          "acc": [80.0, 82.0, 70.0, 60.0], "bal": [1.0, 2.0, 3.0, 4.0]})
    fig = plots.setting_heatmaps(frame, {"acc": "accuracy %", "bal": "balanced %"})
    heat = [ax for ax in fig.axes if ax.get_title()]
    assert [ax.get_title() for ax in heat] == ["accuracy %", "balanced %"]
    assert sorted(t.get_text() for t in heat[0].texts) == ["60.0", "70.0", "81.0"]  # BEiT/none: (80 + 82) / 2
    assert sorted(t.get_text() for t in heat[1].texts) == ["1.5", "3.0", "4.0"]
    assert [t.get_text() for t in heat[0].get_yticklabels()] == ["BEiT", "Swin"]
    plt.close(fig)
