"""Multi-task decoding: each head's most probable label, independently (any combination is allowed)."""
from __future__ import annotations

import torch

from ecomtune.tasks.labels import LabelSpace


def decode(logits: tuple[torch.Tensor, ...], space: LabelSpace) -> tuple[torch.Tensor, list[torch.Tensor]]:
    """-> (predicted ids [batch, heads], per-head probabilities)."""
    probs = [lg.float().softmax(dim=-1) for lg in logits]
    return torch.stack([p.argmax(dim=-1) for p in probs], dim=1), probs


def describe(pred: list[int], probs: list[list[float]], space: LabelSpace) -> dict:
    """One prediction: a label and score per head, keyed by the head's column name."""
    return {
        "labels": {head: space.labels[i][pred[i]] for i, head in enumerate(space.levels)},
        "scores": {head: probs[i][pred[i]] for i, head in enumerate(space.levels)},
        "probs": {head: {name: probs[i][j] for j, name in enumerate(space.labels[i])}
                  for i, head in enumerate(space.levels)},
    }
