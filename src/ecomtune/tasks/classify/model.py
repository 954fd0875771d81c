"""Flat classification decoding: the most probable label."""
from __future__ import annotations

import torch

from ecomtune.data.labels import LabelSpace


THRESHOLD = True  # `evaluation.threshold` applies (one label: a decision threshold on its probability)


def decode(logits: tuple[torch.Tensor, ...], space: LabelSpace) -> tuple[torch.Tensor, list[torch.Tensor]]:
    """-> (predicted ids [batch, 1], per-level probabilities)."""
    probs = logits[0].float().softmax(dim=-1)
    return probs.argmax(dim=-1, keepdim=True), [probs]


def manifest(space: LabelSpace) -> dict:
    """The manifest section naming the labels."""
    return {"labels": space.labels[0]}


def table_columns(pred, probs: list, space: LabelSpace) -> dict:
    """`predict_file`'s columns: `pred_label` (a path joined with " > " for a taxonomy), `pred_score` (the product of
    the levels' probabilities) and, for one level, `prob_<label>` per label."""
    score = 1.0
    for level, p in enumerate(probs):
        score = score * p[range(len(pred)), pred[:, level]]
    columns = {"pred_label": [" > ".join(space.labels[i][j] for i, j in enumerate(row)) for row in pred.tolist()],
               "pred_score": score}
    if space.depth == 1:
        columns.update({f"prob_{name}": probs[0][:, j] for j, name in enumerate(space.labels[0])})
    return columns


def describe(pred: list[int], probs: list[list[float]], space: LabelSpace) -> dict:
    """One prediction as JSON-friendly output."""
    labels = space.labels[0]
    return {"label": labels[pred[0]], "score": probs[0][pred[0]],
            "probs": {name: probs[0][i] for i, name in enumerate(labels)}}
