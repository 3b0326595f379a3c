"""Study B's evaluation: classification metrics, a model's loss and predictions on a loader, and the linear
probe of a backbone's frozen features (a diagnostic of pretraining).
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from . import apparel, torch_images
from .torch_device import autocast, to_device


def classification_metrics(y_true, y_pred, num_classes: int) -> dict:
    """Accuracy and balanced accuracy in percent; macro precision / recall / F1 as fractions.

    Macro averages and balanced accuracy run over the classes present in ``y_true`` (a class kept
    in the training split only, see ``small_classes``, cannot be measured; predicting it is still
    an error). scikit-learn, ``zero_division=0``.
    """
    from sklearn.metrics import accuracy_score, precision_recall_fscore_support, recall_score

    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    present = np.unique(y_true).tolist()
    p, r, f, _ = precision_recall_fscore_support(y_true, y_pred, labels=present, average="macro", zero_division=0)
    bal = recall_score(y_true, y_pred, labels=present, average="macro", zero_division=0)
    return {"acc": 100.0 * float(accuracy_score(y_true, y_pred)), "balanced_acc": 100.0 * float(bal),
            "precision": float(p), "recall": float(r), "f1": float(f)}


@torch.no_grad()
def evaluate(model, loader, device: torch.device, num_classes: int, channels_last: bool | None = None) -> dict:
    """Loss (plain cross-entropy), accuracy, macro P/R/F1, and the predictions."""
    model.eval()
    total, n, preds, trues = 0.0, 0, [], []
    for x, y in loader:
        x, y = to_device(x, y, device, channels_last)
        with autocast(device):
            logits = model(x)
        total += F.cross_entropy(logits.float(), y, reduction="sum").item()
        n += len(y)
        preds.append(logits.argmax(1).cpu())
        trues.append(y.cpu())
    y_true, y_pred = torch.cat(trues).numpy(), torch.cat(preds).numpy()
    out = {"loss": total / max(1, n), **classification_metrics(y_true, y_pred, num_classes)}
    out["y_true"], out["y_pred"] = y_true.tolist(), y_pred.tolist()
    return out


@torch.no_grad()
def backbone_features(model, source: apparel.ImageSource, image_size: int, batch_size: int = 256) -> np.ndarray:
    """The backbone's pooled features (no EdgeNet, no head) of every image of ``source``, on the CPU."""
    dc = torch_images.data_config(model, image_size)
    ds = torch_images.TorchImageDataset(source, np.arange(len(source)), image_size, dc["mean"], dc["std"],
                                   interpolation=dc.get("interpolation", "bilinear"))
    backbone = getattr(model, "backbone", model).eval()
    loader = torch.utils.data.DataLoader(ds, batch_size=batch_size)
    return torch.cat([backbone(x) for x, _ in loader]).numpy()


def linear_probe(model, source: apparel.ImageSource, image_size: int, seed: int = 0) -> float:
    """Accuracy (%) of a logistic regression on the frozen backbone's features: a diagnostic of pretraining.

    ``source`` (balanced, labelled) is split in two halves, stratified and seeded; the probe (scikit-learn,
    standardised features) fits one half and is scored on the other.
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import train_test_split
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    x = backbone_features(model, source, image_size)
    xa, xb, ya, yb = train_test_split(x, source.labels, test_size=0.5, stratify=source.labels, random_state=seed)
    probe = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000)).fit(xa, ya)
    return 100.0 * float(probe.score(xb, yb))

