"""Late fusion of two classifiers over the same labels (a product photo model and a title model):

    log p_fused(y) = w * log p_image(y) + (1 - w) * log p_text(y)

with w chosen on the validation split (a grid of 21 weights; ties go to the weight nearest 0.5). Each model stays
what it is — fine-tuned, compressed and served on its own — and the fusion is one number learned on data neither
model was trained on.
"""
from __future__ import annotations

import numpy as np

GRID = np.round(np.linspace(0, 1, 21), 2)


def align(probs: np.ndarray, labels: list[str], target: list[str]) -> np.ndarray:
    """Columns of `probs` (named by `labels`) reordered to `target`; a label one model lacks gets probability 0."""
    index = {name: i for i, name in enumerate(labels)}
    out = np.zeros((len(probs), len(target)), dtype=np.float64)
    for j, name in enumerate(target):
        if name in index:
            out[:, j] = probs[:, index[name]]
    return out


def fuse(image: np.ndarray, text: np.ndarray, weight: float) -> np.ndarray:
    """Fused log-scores [n, labels]; argmax is the fused prediction."""
    return weight * np.log(np.clip(image, 1e-9, 1)) + (1 - weight) * np.log(np.clip(text, 1e-9, 1))


def tune_weight(image: np.ndarray, text: np.ndarray, truth: np.ndarray, score) -> tuple[float, dict[float, float]]:
    """(best weight, {weight: validation score}); `score(truth, pred)` is the metric to maximise (e.g. macro-F1)."""
    scores = {float(w): float(score(truth, fuse(image, text, w).argmax(axis=1))) for w in GRID}
    best = max(scores, key=lambda w: (round(scores[w], 6), -abs(w - 0.5)))
    return best, scores
