"""metrics.py against small cases computed by hand."""

import math

import numpy as np
import pandas as pd
import pytest

from fashionlib import metrics

# 3 classes, 6 samples. Predictions (argmax): 0, 0, 1, 2, 2, 2
Y = np.array([0, 0, 1, 1, 2, 2])
P = np.array([
    [0.8, 0.1, 0.1],
    [0.6, 0.3, 0.1],
    [0.2, 0.7, 0.1],
    [0.1, 0.3, 0.6],
    [0.2, 0.2, 0.6],
    [0.1, 0.1, 0.8],
])
NAMES = ["a", "b", "c"]


def test_accuracy_and_log_loss_by_hand():
    assert metrics.accuracy(Y, P) == pytest.approx(5 / 6)
    assert metrics.accuracy(Y, P.argmax(1)) == pytest.approx(5 / 6)
    expected = -np.mean(np.log([0.8, 0.6, 0.7, 0.3, 0.6, 0.8]))
    assert metrics.log_loss(Y, P) == pytest.approx(expected)


def test_classification_table_by_hand():
    t = metrics.classification_table(Y, P, class_names=NAMES)
    # class a: predicted a twice, both right -> P 1, R 1. class b: predicted once (right), 2 true -> P 1, R 0.5
    # class c: predicted 3 times, 2 right -> P 2/3, R 1
    assert list(t.index) == ["a", "b", "c", "avg/total"]
    assert t.loc["a", ["precision", "recall", "f1"]].tolist() == pytest.approx([1, 1, 1])
    assert t.loc["b", ["precision", "recall", "f1"]].tolist() == pytest.approx([1, 0.5, 2 / 3])
    assert t.loc["c", ["precision", "recall", "f1"]].tolist() == pytest.approx([2 / 3, 1, 0.8])
    # weighted by support (2 each): plain means here
    assert t.loc["avg/total", "precision"] == pytest.approx((1 + 1 + 2 / 3) / 3)
    assert t.loc["avg/total", "recall"] == pytest.approx((1 + 0.5 + 1) / 3)
    assert t.loc["avg/total", "support"] == 6


def test_confusion_table_by_hand():
    cm = metrics.confusion_table(Y, P, class_names=NAMES)
    assert cm.to_numpy().tolist() == [[2, 0, 0], [0, 1, 1], [0, 0, 2]]
    assert list(cm.index) == NAMES and cm.index.name == "true"
    norm = metrics.confusion_table(Y, P, class_names=NAMES, normalize="true")
    assert norm.loc["b", "c"] == pytest.approx(0.5)


def test_roc_auc_by_hand():
    curves, auc = metrics.roc_curves(Y, P, class_names=NAMES)
    aucs = auc.set_index("curve")["auc"]
    # class a: positives score 0.8, 0.6; negatives 0.2, 0.1, 0.2, 0.1 -> perfectly separated
    assert aucs["a"] == pytest.approx(1.0)
    # class b: positives 0.7, 0.3; negatives 0.1, 0.3, 0.2, 0.1. Pairs: 0.7 beats all 4;
    # 0.3 beats 0.1, 0.2, 0.1 and ties 0.3 (counts 1/2) -> (4 + 3.5) / 8
    assert aucs["b"] == pytest.approx(7.5 / 8)
    # class c: positives 0.6, 0.8; negatives 0.1, 0.1, 0.1, 0.6 -> 0.8 beats 4; 0.6 beats 3, ties 1
    assert aucs["c"] == pytest.approx(7.5 / 8)
    assert set(curves["curve"]) == {"a", "b", "c", "micro", "macro"}
    # micro: the 6 positive (image, class) scores 0.8, 0.6, 0.7, 0.3, 0.6, 0.8 against the 12 negative ones
    # (0.2, 0.1, 0.2, 0.1 | 0.1, 0.3, 0.2, 0.1 | 0.1, 0.1, 0.1, 0.6): 0.8 and 0.7 beat all 12 (36),
    # each 0.6 beats 11 and ties 1 (23), 0.3 beats 10 and ties 1 (10.5) -> 69.5 / 72 = 139 / 144
    assert aucs["micro"] == pytest.approx(139 / 144, abs=1e-12)
    # macro: the mean of the three class curves; here its area is the mean of the three areas,
    # (144 + 135 + 135) / 3 / 144 = 138 / 144
    assert aucs["macro"] == pytest.approx(138 / 144, abs=1e-12)
    s = metrics.auc_scores(Y, P)
    assert s["auc_micro"] == pytest.approx(139 / 144, abs=1e-12)
    assert s["auc_macro"] == pytest.approx(138 / 144, abs=1e-12)


def test_summary_in_percent():
    s = metrics.summary(Y, P)
    assert s["accuracy"] == pytest.approx(100 * 5 / 6)
    assert math.isfinite(s["loss"])


def test_bad_proba_shape_is_a_clear_error():
    with pytest.raises(ValueError, match="shape"):
        metrics.log_loss(Y, P[:3])
