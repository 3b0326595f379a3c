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


def test_rare_class_samples_shows_only_the_rarest_class_originals_over_copies():
    import numpy as np
    from types import SimpleNamespace

    torch = __import__("pytest").importorskip("torch")
    labels = np.array([0, 0, 0, 1, 1, 2, 2, 2])  # class 1 is the rarest
    train_idx = np.array([0, 1, 2, 3, 4, 5, 6, 7, 3, 4, 3])  # the last three: augmented copies of class 1
    splits = SimpleNamespace(source=SimpleNamespace(labels=labels), class_names=["a", "b", "c"],
                             train_idx_original=np.arange(8), train_idx=train_idx,
                             train_augment=np.array([False] * 8 + [True] * 3))
    shown = []

    def raw(i):
        shown.append(int(train_idx[i]))
        return torch.zeros(3, 4, 4)

    rng = np.random.default_rng(0)
    fig = plots.rare_class_samples(SimpleNamespace(raw=raw), splits, rng, 2, 16)
    assert fig._suptitle.get_text() == "Rarest class 'b' at 16 px"
    assert shown and set(shown) == {3, 4}, "only class 1's entries are drawn"
    assert [ax.get_title() for ax in fig.axes] == ["original"] * 2 + ["augmented copy"] * 2
    after = rng.random()
    rng2 = np.random.default_rng(0)
    rng2.choice(np.array([3, 4]), size=2, replace=False)
    rng2.choice(np.array([8, 9, 10]), size=2, replace=False)
    assert after == rng2.random(), "the caller's generator moved on by exactly the two draws"
    plt.close(fig)
