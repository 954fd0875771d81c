"""Multi-task metrics: accuracy, macro-F1 and per-class scores per head; headline = mean over heads."""
from __future__ import annotations

import numpy as np

from ecomtune.tasks.classify.metrics import level_metrics
from ecomtune.data.labels import LabelSpace


def compute(true: np.ndarray, pred: np.ndarray, space: LabelSpace) -> dict:
    """`true`, `pred`: int arrays of shape [n, heads]. `accuracy`/`macro_f1` are the means over the heads."""
    true, pred = np.asarray(true), np.asarray(pred)
    levels = {name: level_metrics(true[:, i], pred[:, i], space.labels[i]) for i, name in enumerate(space.levels)}
    return {
        "levels": levels,
        "accuracy": float(np.mean([m["accuracy"] for m in levels.values()])),
        "macro_f1": float(np.mean([m["macro_f1"] for m in levels.values()])),
        "all_heads_accuracy": float(np.mean(np.all(true == pred, axis=1))) if len(true) else 0.0,
    }


def headline(metrics: dict) -> dict:
    out = {"accuracy": metrics["accuracy"], "macro_f1": metrics["macro_f1"],
           "all_heads_accuracy": metrics["all_heads_accuracy"]}
    for name, m in metrics["levels"].items():
        out[f"{name}_accuracy"] = m["accuracy"]
        out[f"{name}_macro_f1"] = m["macro_f1"]
    return out
