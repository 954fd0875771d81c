"""Classification metrics: accuracy, macro/weighted F1, per-class precision/recall/F1, confusion matrix."""
from __future__ import annotations

import numpy as np
from sklearn.metrics import confusion_matrix, precision_recall_fscore_support

from ecomtune.data.labels import LabelSpace


def level_metrics(y_true: np.ndarray, y_pred: np.ndarray, labels: list[str]) -> dict:
    """Metrics of one label level; ids index into `labels`."""
    ids = list(range(len(labels)))
    p, r, f, s = precision_recall_fscore_support(y_true, y_pred, labels=ids, zero_division=0)
    present = s > 0  # macro-F1 over the classes that occur in this split, as sklearn does with labels=None
    support = s.sum()
    return {
        "accuracy": float(np.mean(y_true == y_pred)) if len(y_true) else 0.0,
        "macro_f1": float(f[present].mean()) if present.any() else 0.0,
        "weighted_f1": float((f * s).sum() / support) if support else 0.0,
        "labels": list(labels),
        "per_class": {
            name: {"precision": float(p[i]), "recall": float(r[i]), "f1": float(f[i]), "support": int(s[i])}
            for i, name in enumerate(labels)
        },
        "confusion_matrix": confusion_matrix(y_true, y_pred, labels=ids).tolist(),
    }


def compute(true: np.ndarray, pred: np.ndarray, space: LabelSpace) -> dict:
    """`true`, `pred`: int arrays of shape [n, 1]."""
    return level_metrics(np.asarray(true)[:, 0], np.asarray(pred)[:, 0], space.labels[0])


def headline(metrics: dict) -> dict:
    """The numbers shown in tables and used for model selection."""
    return {"accuracy": metrics["accuracy"], "macro_f1": metrics["macro_f1"]}
