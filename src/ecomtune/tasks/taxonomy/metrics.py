"""Taxonomy metrics: per-level accuracy and macro-F1, full-path accuracy, and the share of valid paths."""
from __future__ import annotations

import numpy as np

from ecomtune.tasks.classify.metrics import level_metrics
from ecomtune.data.labels import LabelSpace


def compute(true: np.ndarray, pred: np.ndarray, space: LabelSpace) -> dict:
    """`true`, `pred`: int arrays of shape [n, depth]; a predicted path is valid if it was seen in training."""
    true, pred = np.asarray(true), np.asarray(pred)
    levels = {name: level_metrics(true[:, i], pred[:, i], space.labels[i]) for i, name in enumerate(space.levels)}
    valid = set(space.paths)
    deepest = levels[space.levels[-1]]
    return {
        "levels": levels,
        "path_accuracy": float(np.mean(np.all(true == pred, axis=1))) if len(true) else 0.0,
        "valid_path_rate": float(np.mean([tuple(p) in valid for p in pred.tolist()])) if len(pred) else 0.0,
        "accuracy": deepest["accuracy"],
        "macro_f1": deepest["macro_f1"],
    }


def headline(metrics: dict) -> dict:
    out = {"accuracy": metrics["accuracy"], "macro_f1": metrics["macro_f1"],
           "path_accuracy": metrics["path_accuracy"], "valid_path_rate": metrics["valid_path_rate"]}
    for name, m in metrics["levels"].items():
        out[f"{name}_macro_f1"] = m["macro_f1"]
    return out
