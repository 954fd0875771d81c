"""Flat classification decoding: the most probable label."""
from __future__ import annotations

import torch

from ecomtune.tasks.labels import LabelSpace


def decode(logits: tuple[torch.Tensor, ...], space: LabelSpace) -> tuple[torch.Tensor, list[torch.Tensor]]:
    """-> (predicted ids [batch, 1], per-level probabilities)."""
    probs = logits[0].float().softmax(dim=-1)
    return probs.argmax(dim=-1, keepdim=True), [probs]


def describe(pred: list[int], probs: list[list[float]], space: LabelSpace) -> dict:
    """One prediction as JSON-friendly output."""
    labels = space.labels[0]
    return {"label": labels[pred[0]], "score": probs[0][pred[0]],
            "probs": {name: probs[0][i] for i, name in enumerate(labels)}}
