"""Thin wrappers over ``sklearn.metrics`` that return tidy pandas tables (for Tables 2-4, Figs. 6-8).

All functions take integer labels ``y_true`` (N,) and either predicted labels or class
probabilities ``proba`` (N, C). Class names default to ``fashionlib.data.CLASS_NAMES``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn import metrics as skm

from .data import CLASS_NAMES


def _names(n: int, class_names=None) -> list[str]:
    names = list(class_names) if class_names is not None else list(CLASS_NAMES)
    return names[:n] if len(names) >= n else [str(i) for i in range(n)]


def _check_proba(y_true, proba):
    y_true = np.asarray(y_true)
    proba = np.asarray(proba, dtype=np.float64)
    if proba.ndim != 2 or len(proba) != len(y_true):
        raise ValueError(f"proba must have shape (N, C) with N = len(y_true) = {len(y_true)}; got {proba.shape}.")
    return y_true, proba


def accuracy(y_true, y_pred) -> float:
    """Fraction of correct predictions (``y_pred`` labels, or probabilities -> argmax)."""
    y_pred = np.asarray(y_pred)
    if y_pred.ndim == 2:
        y_pred = y_pred.argmax(1)
    return float(skm.accuracy_score(y_true, y_pred))


def log_loss(y_true, proba) -> float:
    """Mean cross-entropy of the predicted probabilities (the paper's "loss")."""
    y_true, proba = _check_proba(y_true, proba)
    return float(skm.log_loss(y_true, proba, labels=np.arange(proba.shape[1])))


def classification_table(y_true, y_pred, class_names=None, num_classes: int | None = None) -> pd.DataFrame:
    """Per-class precision, recall, F1 and support, plus a weighted 'avg/total' row (as in Table 3)."""
    y_pred = np.asarray(y_pred)
    if y_pred.ndim == 2:
        num_classes = num_classes or y_pred.shape[1]
        y_pred = y_pred.argmax(1)
    n = num_classes or int(max(np.max(y_true), np.max(y_pred)) + 1)
    labels = np.arange(n)
    p, r, f, s = skm.precision_recall_fscore_support(y_true, y_pred, labels=labels, zero_division=0)
    table = pd.DataFrame({"precision": p, "recall": r, "f1": f, "support": s}, index=_names(n, class_names))
    pw, rw, fw, _ = skm.precision_recall_fscore_support(y_true, y_pred, labels=labels, average="weighted",
                                                         zero_division=0)
    table.loc["avg/total"] = [pw, rw, fw, s.sum()]
    table.index.name = "class"
    return table


def confusion_table(y_true, y_pred, class_names=None, num_classes: int | None = None,
                    normalize: str | None = None) -> pd.DataFrame:
    """Confusion matrix as a DataFrame: rows = true class, columns = predicted class (Fig. 6)."""
    y_pred = np.asarray(y_pred)
    if y_pred.ndim == 2:
        num_classes = num_classes or y_pred.shape[1]
        y_pred = y_pred.argmax(1)
    n = num_classes or int(max(np.max(y_true), np.max(y_pred)) + 1)
    cm = skm.confusion_matrix(y_true, y_pred, labels=np.arange(n), normalize=normalize)
    names = _names(n, class_names)
    return pd.DataFrame(cm, index=pd.Index(names, name="true"), columns=pd.Index(names, name="predicted"))


def roc_curves(y_true, proba, class_names=None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """One-vs-rest ROC curves and AUCs per class, micro and macro average (Figs. 7-8).

    Returns ``(curves, auc)``: ``curves`` has columns curve, fpr, tpr (curve = class name,
    'micro' or 'macro'); ``auc`` has one row per curve with its area. Micro: all (image, class)
    pairs pooled. Macro: the per-class TPRs interpolated on the union of their FPRs and averaged
    (the scikit-learn example's construction); its AUC is the area under that mean curve.
    """
    y_true, proba = _check_proba(y_true, proba)
    n = proba.shape[1]
    names = _names(n, class_names)
    onehot = np.eye(n)[y_true]
    rows, aucs, per_class = [], [], []
    for c in range(n):
        fpr, tpr, _ = skm.roc_curve(onehot[:, c], proba[:, c])
        per_class.append((fpr, tpr))
        rows.append(pd.DataFrame({"curve": names[c], "fpr": fpr, "tpr": tpr}))
        aucs.append({"curve": names[c], "auc": skm.auc(fpr, tpr)})
    fpr, tpr, _ = skm.roc_curve(onehot.ravel(), proba.ravel())
    rows.append(pd.DataFrame({"curve": "micro", "fpr": fpr, "tpr": tpr}))
    aucs.append({"curve": "micro", "auc": skm.auc(fpr, tpr)})
    all_fpr = np.unique(np.concatenate([f for f, _ in per_class]))
    mean_tpr = np.mean([np.interp(all_fpr, f, t) for f, t in per_class], axis=0)
    rows.append(pd.DataFrame({"curve": "macro", "fpr": all_fpr, "tpr": mean_tpr}))
    aucs.append({"curve": "macro", "auc": skm.auc(all_fpr, mean_tpr)})
    return pd.concat(rows, ignore_index=True), pd.DataFrame(aucs)


def auc_scores(y_true, proba) -> dict:
    """Micro and macro one-vs-rest ROC AUC (``roc_auc_score``), for Table 4's AUC column."""
    y_true, proba = _check_proba(y_true, proba)
    onehot = np.eye(proba.shape[1])[y_true]
    return {"auc_micro": float(skm.roc_auc_score(onehot, proba, average="micro")),
            "auc_macro": float(skm.roc_auc_score(onehot, proba, average="macro", multi_class="ovr"))}


def summary(y_true, proba) -> dict:
    """Headline metrics for a results record: accuracy (%), log loss, micro/macro AUC."""
    out = {"accuracy": 100.0 * accuracy(y_true, proba), "loss": log_loss(y_true, proba)}
    out.update(auc_scores(y_true, proba))
    return out


# --------------------------------------------------------------------------- training curves ----
def _curve_pair(history, a: str, b: str) -> tuple[np.ndarray, np.ndarray]:
    """Two per-epoch columns of a Keras history (a DataFrame or a dict of lists), as float arrays."""
    missing = [k for k in (a, b) if k not in history]
    if missing:
        raise KeyError(f"history has no {', '.join(map(repr, missing))} column; it has "
                       f"{', '.join(map(repr, list(history)))}.")
    x, y = np.asarray(history[a], dtype=float), np.asarray(history[b], dtype=float)
    if len(x) != len(y) or len(x) == 0:
        raise ValueError(f"history columns {a!r} and {b!r} must be non-empty and of equal length, "
                         f"got {len(x)} and {len(y)}.")
    return x, y


def crossing_epoch(history, a: str = "accuracy", b: str = "val_accuracy") -> int | None:
    """The first epoch (1-based) from which curve ``a`` stays above curve ``b`` to the end, or None.

    None means ``a`` does not end above ``b`` (at the last epoch ``a <= b``); 1 means ``a`` was above
    ``b`` throughout. With the defaults: the epoch at which training accuracy (measured with dropout
    active) passes validation accuracy for good -- the paper's Fig. 5 text has training accuracy
    below validation accuracy throughout (None). ``crossing_epoch(h, "val_loss", "loss")``: the epoch
    from which validation loss stays above training loss (the paper: never, i.e. None).
    """
    x, y = _curve_pair(history, a, b)
    above = x > y
    if not above[-1]:
        return None
    below = np.flatnonzero(~above)
    return int(below[-1]) + 2 if below.size else 1


def share_above(history, a: str, b: str) -> float:
    """The fraction of epochs at which curve ``a`` is strictly above curve ``b``."""
    x, y = _curve_pair(history, a, b)
    return float(np.mean(x > y))


def share_after_minimum(history, key: str = "val_loss") -> float:
    """The fraction of the epochs that come after the epoch where ``key`` is lowest (first minimum).

    0 when the curve is lowest at the last epoch (still falling); close to 1 when it bottoms out early
    and then rises -- the paper's description of its basic CNN's validation loss (Fig. 4).
    """
    x, _ = _curve_pair(history, key, key)
    return float((len(x) - 1 - int(np.argmin(x))) / len(x))


def curve_summary(history) -> dict:
    """The per-epoch facts the paper's Figs. 4-5 text describes, for one Keras history (one run).

    ``val_loss_below_train_share``: fraction of epochs with validation loss below training loss (Fig. 5:
    all of them); ``val_acc_above_train_share``: fraction with validation accuracy above training
    accuracy (Fig. 5: all); ``after_val_loss_min_share``: fraction of epochs after the validation loss's
    minimum (Fig. 4's basic CNN: falls at first, then rises, so well over half); ``val_loss_min_epoch``
    (1-based); ``accuracy_crossing_epoch`` and ``loss_crossing_epoch``: where training accuracy passes
    validation accuracy, and validation loss passes training loss, for good (None: never).
    """
    val_loss = np.asarray(history["val_loss"], dtype=float)
    return {
        "val_loss_below_train_share": share_above(history, "loss", "val_loss"),
        "val_acc_above_train_share": share_above(history, "val_accuracy", "accuracy"),
        "after_val_loss_min_share": share_after_minimum(history, "val_loss"),
        "val_loss_min_epoch": int(np.argmin(val_loss)) + 1,
        "accuracy_crossing_epoch": crossing_epoch(history, "accuracy", "val_accuracy"),
        "loss_crossing_epoch": crossing_epoch(history, "val_loss", "loss"),
    }
