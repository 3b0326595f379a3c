"""Figures named after the paper figures they reproduce (matplotlib + seaborn).

Each function returns a ``matplotlib.figure.Figure`` with a title saying which paper figure it
reproduces, so notebooks can ``glue`` it and the book can caption it.

Study A (JICT 2023): :func:`fig2_learning_rate`, :func:`fig45_curves`, :func:`fig6_confusion`,
:func:`fig7_roc_average`, :func:`fig8_roc_per_class`, :func:`bar_paper_vs_reproduced` (also B3's rows),
:func:`protocol_strip` (the a6 protocol page).
Study B: :func:`class_counts_bar`, :func:`balance_before_after`, :func:`study_b_history` (for
:func:`fig45_curves`), :func:`prf_per_epoch`, :func:`edge_maps` (B1 and B4), :func:`rare_class_samples`
(B1), :func:`paired_differences`, :func:`setting_heatmaps` (the B2 grid).
"""

from __future__ import annotations

import textwrap

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns


def _fig(figsize=(6.0, 4.0)):
    fig, ax = plt.subplots(figsize=figsize, layout="constrained")
    return fig, ax


def fig2_learning_rate(lr_logs: dict, steps_per_epoch: int | None = None, log_scale: bool = True,
                       title: str = "Fig. 2 (reproduced): learning rate used at each step"):
    """Learning rate per step; ``lr_logs`` maps a label to a DataFrame with columns step, learning_rate."""
    fig, ax = _fig()
    for label, df in lr_logs.items():
        x = df["step"] / steps_per_epoch if steps_per_epoch else df["step"]
        ax.plot(x, df["learning_rate"], label=label, lw=1.5)
    if log_scale:
        ax.set_yscale("log")
    ax.set_xlabel("epoch" if steps_per_epoch else "training step (batch)")
    ax.set_ylabel("learning rate")
    ax.set_title(title, fontsize=10)
    if len(lr_logs) > 1:
        ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    return fig


def fig45_curves(histories: dict, title: str = "Figs. 4-5 (reproduced): accuracy and loss per epoch"):
    """Training/validation accuracy and loss per epoch.

    ``histories`` maps a label (model or seed) to a DataFrame with columns epoch, accuracy, loss,
    val_accuracy, val_loss (the ``FitResult.history`` table).
    """
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8), layout="constrained")
    palette = sns.color_palette("tab10", n_colors=max(1, len(histories)))
    for color, (label, h) in zip(palette, histories.items()):
        ep = h["epoch"] + 1
        for ax, key in zip(axes, ("accuracy", "loss")):
            ax.plot(ep, h[key], color=color, ls="-", label=f"{label} train")
            ax.plot(ep, h[f"val_{key}"], color=color, ls="--", label=f"{label} validation")
    for ax, key in zip(axes, ("accuracy", "loss")):
        ax.set_xlabel("epoch")
        ax.set_ylabel(key)
        ax.grid(alpha=0.3)
    axes[1].legend(fontsize=7)
    fig.suptitle(title, fontsize=10)
    return fig


def fig6_confusion(cm: pd.DataFrame, title: str = "Fig. 6 (reproduced): confusion matrix on the test set",
                   fmt: str = "d"):
    """Heatmap of a confusion table from ``metrics.confusion_table``."""
    fig, ax = _fig((7.0, 6.0))
    sns.heatmap(cm, annot=True, fmt=fmt, cmap="Blues", cbar=False, ax=ax, annot_kws={"fontsize": 7})
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    ax.set_title(title, fontsize=10)
    return fig


def fig7_roc_average(curves: pd.DataFrame, auc: pd.DataFrame,
                     title: str = "Fig. 7 (reproduced): micro- and macro-average ROC"):
    """Micro and macro average ROC curves (from ``metrics.roc_curves``)."""
    fig, ax = _fig((5.0, 4.5))
    aucs = auc.set_index("curve")["auc"]
    for name, color in (("micro", "tab:red"), ("macro", "tab:blue")):
        c = curves[curves["curve"] == name]
        ax.plot(c["fpr"], c["tpr"], color=color, label=f"{name}-average (AUC = {aucs[name]:.4f})")
    ax.plot([0, 1], [0, 1], color="grey", ls=":", lw=1)
    ax.set_xlabel("false positive rate")
    ax.set_ylabel("true positive rate")
    ax.set_title(title, fontsize=10)
    ax.legend(loc="lower right", fontsize=8)
    return fig


def fig8_roc_per_class(curves: pd.DataFrame, auc: pd.DataFrame, zoom: bool = True,
                       title: str = "Fig. 8 (reproduced): ROC curve of each class"):
    """One-vs-rest ROC curve per class; ``zoom`` adds an inset on the top-left corner."""
    fig, ax = _fig((6.0, 5.0))
    aucs = auc.set_index("curve")["auc"]
    names = [c for c in curves["curve"].unique() if c not in ("micro", "macro")]
    palette = sns.color_palette("tab10", n_colors=len(names))
    for i, (name, color) in enumerate(zip(names, palette)):
        c = curves[curves["curve"] == name]
        ax.plot(c["fpr"], c["tpr"], color=color, lw=1.2, label=f"class {i} {name} (AUC = {aucs[name]:.4f})")
    ax.plot([0, 1], [0, 1], color="grey", ls=":", lw=1)
    ax.set_xlabel("false positive rate")
    ax.set_ylabel("true positive rate")
    ax.set_title(title, fontsize=10)
    ax.legend(loc="lower right", fontsize=7)
    if zoom:
        inset = ax.inset_axes([0.35, 0.42, 0.35, 0.3])
        for name, color in zip(names, palette):
            c = curves[curves["curve"] == name]
            inset.plot(c["fpr"], c["tpr"], color=color, lw=1)
        inset.set_xlim(0, 0.1)
        inset.set_ylim(0.8, 1.0)
        inset.tick_params(labelsize=6)
    return fig


def bar_paper_vs_reproduced(table: pd.DataFrame, value: str = "mean", error: str | None = "std",
                            paper: str = "paper", title: str = "Paper vs reproduced", ylabel: str = "",
                            ylim=None, labels=None, label_width: int = 15):
    """Grouped bars: paper value and reproduced mean (+- ``error``, when ``table`` has that column) for each
    row of ``table``; ``labels`` name the rows on the x-axis (default: ``table``'s index), each line of a
    label wrapped at ``label_width`` characters so that long neighbouring names do not run together.

    Without ``ylim`` the y-axis spans the data (:func:`bar_limits`), so every bar shows, however far the
    reproduced values fall from the paper's.
    """
    fig, ax = _fig((max(6.0, 1.1 * len(table) + 2), 3.8))
    x = np.arange(len(table))
    w = 0.38
    ax.bar(x - w / 2, table[paper].astype(float), w, label="paper", color="tab:grey")
    err = table[error].astype(float).fillna(0) if error in table else None
    ax.bar(x + w / 2, table[value].astype(float), w, yerr=err, capsize=3, label="reproduced", color="tab:blue")
    names = [str(i) for i in (table.index if labels is None else labels)]
    wrapped = ["\n".join(textwrap.fill(line, label_width) for line in name.splitlines()) for name in names]
    ax.set_xticks(x, wrapped, rotation=0, fontsize=8)
    ax.set_ylabel(ylabel)
    ax.set_ylim(*(bar_limits(table, value, error, paper) if ylim is None else ylim))
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=8)
    ax.grid(axis="y", alpha=0.3)
    return fig


def bar_limits(table: pd.DataFrame, value: str = "mean", error: str | None = "std", paper: str = "paper",
               margin: float = 0.1) -> tuple[float, float]:
    """y-limits that hold every bar of :func:`bar_paper_vs_reproduced`: from the lowest paper value or
    reproduced value minus its error to the highest plus its error, widened by ``margin`` of that span on
    each side (never below 0 when all values are at or above 0; ±1 when every value is the same)."""
    mean = table[value].astype(float)
    err = table[error].astype(float).fillna(0).abs() if error in table else 0.0
    values = pd.concat([table[paper].astype(float), mean - err, mean + err]).dropna()
    lo, hi = float(values.min()), float(values.max())
    pad = margin * (hi - lo) if hi > lo else 1.0
    return (max(lo - pad, 0.0) if lo >= 0 else lo - pad), hi + pad


def protocol_strip(long: pd.DataFrame, paper_value: float, value: str = "accuracy", protocol: str = "protocol",
                   hue: str | None = "reading", title: str = "How could the paper's number have been measured?"):
    """One row per protocol, one dot per run (seed), coloured by ``hue``; the paper's value as a line.

    ``long``: one row per (protocol, run) with columns ``protocol``, ``value`` and optionally ``hue``.
    """
    order = list(dict.fromkeys(long[protocol]))
    fig, ax = _fig((7.5, 0.55 * len(order) + 1.6))
    sns.stripplot(data=long, x=value, y=protocol, hue=hue, order=order, dodge=hue is not None, jitter=0.15,
                  size=6, alpha=0.8, ax=ax)
    ax.axvline(paper_value, color="tab:red", ls="--", lw=1.2, label=f"paper ({paper_value:.2f})")
    ax.set_xlabel("accuracy (%)")
    ax.set_ylabel("")
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=8, loc="lower left")
    ax.grid(axis="x", alpha=0.3)
    return fig

# ============================================================================ Study B =========
# (Study B appends its figure functions below this line.)


def class_counts_bar(counts: pd.DataFrame, title: str = "Images per class", log: bool = True):
    """Images per class (``apparel.class_counts`` table: columns class, images), largest first."""
    fig, ax = _fig((max(6.0, 0.25 * len(counts) + 3), 3.4))
    sns.barplot(data=counts, x="class", y="images", color="tab:blue", ax=ax)
    if log:
        ax.set_yscale("log")
    ax.tick_params(axis="x", rotation=60 if len(counts) > 12 else 40, labelsize=7 if len(counts) > 12 else 9)
    ax.set_xlabel("")
    ax.set_title(title, fontsize=10)
    return fig


def balance_before_after(table: pd.DataFrame, target: int | None = None,
                         title: str = "Training images per class before and after balancing"):
    """Grouped bars from ``balance.counts_before_after`` (columns class, before, after); a line at ``target``."""
    long = table.melt(id_vars="class", value_vars=["before", "after"], var_name="training split", value_name="images")
    fig, ax = _fig((max(6.0, 0.3 * len(table) + 3), 3.4))
    sns.barplot(data=long, x="class", y="images", hue="training split", ax=ax)
    if target is not None:
        ax.axhline(target, color="k", lw=0.8, ls="--")
    ax.tick_params(axis="x", rotation=60 if len(table) > 12 else 40, labelsize=7 if len(table) > 12 else 9)
    ax.set_xlabel("")
    ax.set_title(title, fontsize=10)
    return fig


def study_b_history(history) -> pd.DataFrame:
    """A study-B ``fit`` history (list of per-epoch dicts) in the column names of :func:`fig45_curves`.

    Accuracy stays in percent; ``epoch`` counts from 0 as Keras histories do.
    """
    h = pd.DataFrame(history)
    return pd.DataFrame({"epoch": h["epoch"] - 1, "accuracy": h["train_acc"], "loss": h["train_loss"],
                         "val_accuracy": h["val_acc"], "val_loss": h["val_loss"]})


def prf_per_epoch(history, title: str = "Validation precision / recall / F1 per epoch (reproduced)"):
    """Macro precision, recall and F1 on validation per epoch, from a study-B ``fit`` history."""
    h = pd.DataFrame(history)
    fig, ax = _fig((7.0, 3.6))
    for key, style in (("precision", "-o"), ("recall", "-s"), ("f1", "-^")):
        ax.plot(h["epoch"], h[f"val_{key}"], style, label=f"macro {key}")
    ax.set_xlabel("epoch")
    ax.set_ylabel("validation score")
    ax.set_title(title, fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return fig


def edge_maps(edgenet, dataset, picks, class_names, enhanced: bool = True,
              title: str = "EdgeNet: image, edge map, enhanced image"):
    """Images of ``dataset`` (a ``TorchImageDataset``) at entries ``picks``, EdgeNet's edge map and,
    with ``enhanced``, the image the backbone receives. One function for B1 (at initialisation) and
    B4 (after training)."""
    import torch

    rows = 3 if enhanced else 2
    fig, axes = plt.subplots(rows, len(picks), figsize=(1.7 * len(picks), 1.8 * rows + 0.4), squeeze=False,
                             layout="constrained")
    edgenet = edgenet.eval()
    with torch.no_grad():
        for j, k in enumerate(picks):
            x, y = dataset[int(k)]
            panels = [(dataset.raw(int(k)).permute(1, 2, 0).numpy(), class_names[y], None),
                      (edgenet.edge_map(x[None])[0, 0].numpy(), "edge map", "magma")]
            if enhanced:
                out = (edgenet(x[None])[0] * dataset.std + dataset.mean).clamp(0, 1)
                panels.append((out.permute(1, 2, 0).numpy(), "enhanced", None))
            for r, (img, label, cmap) in enumerate(panels):
                axes[r, j].imshow(img, cmap=cmap)
                axes[r, j].set_title(label, fontsize=8)
                axes[r, j].axis("off")
    fig.suptitle(title, fontsize=10)
    return fig


def paired_differences(table: pd.DataFrame, title: str = "Paired differences over seeds (95% CI)",
                       xlabel: str = "difference (percentage points)"):
    """Horizontal error bars of paired differences (rows of ``report.paired_difference`` dicts, index = label)."""
    fig, ax = _fig((7.0, 0.4 * len(table) + 1.4))
    y = np.arange(len(table))
    ci = table["ci95"].astype(float).fillna(0)
    ax.errorbar(table["difference"].astype(float), y, xerr=ci, fmt="o", capsize=3, color="tab:blue")
    ax.axvline(0, color="grey", lw=0.8, ls=":")
    ax.set_yticks(y, [str(i) for i in table.index], fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel(xlabel)
    ax.set_title(title, fontsize=10)
    ax.grid(axis="x", alpha=0.3)
    return fig


def setting_heatmaps(frame: pd.DataFrame, panels: dict, index: str = "family", columns: str = "setting",
                     figsize=(13, 3.8)):
    """One annotated heatmap per metric, side by side: the mean of each (``index``, ``columns``) cell.

    ``panels`` maps a metric column of ``frame`` (one row per run) to its label, used as the panel's
    title and colour-bar label (the B2 grid: family x balancing/EdgeNet setting).
    """
    fig, axes = plt.subplots(1, len(panels), figsize=figsize, layout="constrained", squeeze=False)
    for ax, (col, label) in zip(axes[0], panels.items()):
        pivot = frame.pivot_table(index=index, columns=columns, values=col, aggfunc="mean")
        sns.heatmap(pivot, annot=True, fmt=".1f", cmap="viridis", ax=ax, cbar_kws={"label": label})
        ax.tick_params(axis="x", rotation=30, labelsize=8)
        ax.set(xlabel="", ylabel="", title=label)
    return fig


def rare_class_samples(train_ds, splits, rng, samples_per_class: int, image_size: int):
    """The rarest training class as the model sees it: originals (top row), augmented copies (bottom row).

    ``train_ds``: the training dataset (``raw(i)``: entry i, resized and augmented, before normalisation);
    ``splits``: its ``train_torch.Splits``; ``rng``: a NumPy generator that draws the pictures (it moves on,
    so a caller's later draws follow these).
    """
    labels, names = splits.source.labels, splits.class_names
    rare = int(np.argmin(np.bincount(labels[splits.train_idx_original], minlength=len(names))))
    rows = [("original", np.flatnonzero(~splits.train_augment)), ("augmented copy", np.flatnonzero(splits.train_augment))]
    fig, axes = plt.subplots(2, samples_per_class, figsize=(1.6 * samples_per_class, 3.6), squeeze=False)
    for r, (label, pool) in enumerate(rows):
        pool = pool[labels[splits.train_idx[pool]] == rare] if len(pool) else pool
        picks = rng.choice(pool, size=min(samples_per_class, len(pool)), replace=False) if len(pool) else []
        for j in range(samples_per_class):
            ax = axes[r, j]
            ax.axis("off")
            if j < len(picks):
                ax.imshow(train_ds.raw(int(picks[j])).permute(1, 2, 0).numpy())
                ax.set_title(label, fontsize=8)
    fig.suptitle(f"Rarest class '{names[rare]}' at {image_size} px")
    fig.tight_layout()
    return fig
