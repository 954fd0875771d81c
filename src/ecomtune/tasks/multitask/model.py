"""Multi-task decoding: each head's most probable label, independently (any combination is allowed)."""
from __future__ import annotations

import torch

from ecomtune.data.labels import LabelSpace


def decode(logits: tuple[torch.Tensor, ...], space: LabelSpace) -> tuple[torch.Tensor, list[torch.Tensor]]:
    """-> (predicted ids [batch, heads], per-head probabilities)."""
    probs = [lg.float().softmax(dim=-1) for lg in logits]
    return torch.stack([p.argmax(dim=-1) for p in probs], dim=1), probs


def manifest(space: LabelSpace) -> dict:
    """The manifest section naming the heads and their labels."""
    return {"multitask": {"heads": space.levels, "labels": space.labels}}


def table_columns(pred, probs: list, space: LabelSpace) -> dict:
    """`predict_file`'s columns: independent heads, so a label and a score column per head."""
    columns = {}
    for level, head in enumerate(space.levels):
        columns[f"pred_{head}"] = [space.labels[level][j] for j in pred[:, level].tolist()]
        columns[f"score_{head}"] = probs[level][range(len(pred)), pred[:, level]]
    return columns


def describe(pred: list[int], probs: list[list[float]], space: LabelSpace) -> dict:
    """One prediction: a label and score per head, keyed by the head's column name."""
    return {
        "labels": {head: space.labels[i][pred[i]] for i, head in enumerate(space.levels)},
        "scores": {head: probs[i][pred[i]] for i, head in enumerate(space.levels)},
        "probs": {head: {name: probs[i][j] for j, name in enumerate(space.labels[i])}
                  for i, head in enumerate(space.levels)},
    }
