"""plots: the B2 heatmaps show each cell's mean, the rare-class samples show only the rarest class, and
the paper-vs-reproduced bars show every bar, however far the reproduced values fall from the paper's."""

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


def _bar_tops(ax):
    """(bottom, top) of each bar in drawing order: the paper's bars, then the reproduced ones."""
    return [(p.get_y(), p.get_y() + p.get_height()) for p in ax.patches]


def test_paper_vs_reproduced_shows_every_bar_and_its_error_far_below_the_paper():
    """A reduced run scoring 60% beside a paper's 90%: both bars' tops, and the error bar, lie inside the
    y-range and above its bottom, and the range starts near the lowest value rather than at 0."""
    table = pd.DataFrame({"paper": [90.0, 92.87], "mean": [60.0, 92.0], "std": [2.0, 0.3]}, index=["LeNet", "CNN"])
    fig = plots.bar_paper_vs_reproduced(table, ylabel="test accuracy (%)")
    ax = fig.axes[0]
    low, high = ax.get_ylim()
    tops = [top for _, top in _bar_tops(ax)]
    assert tops == [90.0, 92.87, 60.0, 92.0]
    assert all(low < top < high for top in tops), (low, high, tops)
    assert low < 60.0 - 2.0 and high > 92.87, "the error bar of the 60% mean and the highest bar fit"
    assert low > 50.0, "the y-range spans the data, not 0 to 100, so the bars' differences show"
    assert [t.get_text() for t in ax.get_xticklabels()] == ["LeNet", "CNN"]
    plt.close(fig)


def test_paper_vs_reproduced_takes_labels_a_given_range_and_no_error_column():
    table = pd.DataFrame({"paper": [82.8, 83.47], "val acc %": [20.0, 25.0]}, index=[1, 2])
    fig = plots.bar_paper_vs_reproduced(table, value="val acc %", error=None, labels=["row 1", "row 2"])
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["row 1", "row 2"]
    assert ax.get_ylim()[0] < 20.0 < 83.47 < ax.get_ylim()[1]
    plt.close(fig)
    fig = plots.bar_paper_vs_reproduced(table, value="val acc %", error=None, ylim=(0, 100))
    assert fig.axes[0].get_ylim() == (0, 100)
    plt.close(fig)


def test_paper_vs_reproduced_x_labels_do_not_overlap():
    """A2's Table 2: six models, two long names side by side; once drawn, two neighbouring x tick labels
    are at least a font size apart (nearer, "Proposed CNN Proposed CNN, stride reading" reads as one
    label), and every word of each label is still shown."""
    names = ["Proposed CNN", "Proposed CNN, stride reading", "CNN", "LeNet", "LSTM", "BiLSTM"]
    table = pd.DataFrame({"paper": [90.0] * 6, "mean": [89.0] * 6, "std": [0.2] * 6}, index=names)
    fig = plots.bar_paper_vs_reproduced(table)
    fig.canvas.draw()
    ax = fig.axes[0]
    renderer = fig.canvas.get_renderer()
    boxes = [t.get_window_extent(renderer) for t in ax.get_xticklabels()]
    gap = ax.get_xticklabels()[0].get_fontsize() * fig.dpi / 72  # the labels' font size, in pixels
    for left, right in zip(boxes, boxes[1:]):
        assert right.x0 - left.x1 >= gap, (left, right)
    assert [t.get_text().split() for t in ax.get_xticklabels()] == [n.split() for n in names]
    plt.close(fig)


def test_bar_limits_widen_the_data_span_and_stay_at_or_above_zero():
    table = pd.DataFrame({"paper": [90.0], "mean": [60.0], "std": [float("nan")]})
    assert plots.bar_limits(table) == (57.0, 93.0)  # span 30, a tenth of it on each side; a missing std is 0
    assert plots.bar_limits(table.assign(mean=5.0)) == (0.0, 98.5)  # 5 - 8.5 would fall below 0
    assert plots.bar_limits(table.assign(mean=90.0)) == (89.0, 91.0)  # one value: one point either side
