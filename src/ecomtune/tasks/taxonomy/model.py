"""Taxonomy decoding: the path of the training taxonomy with the highest summed log-probability.

Scoring whole paths (not taking the argmax per level) means a prediction is always a path that exists,
e.g. never `Footwear > Topwear`.
"""
from __future__ import annotations

import torch

from ecomtune.data.labels import LabelSpace
from ecomtune.tasks.classify.model import table_columns  # noqa: F401  (the same columns: a path and its score)


def decode(logits: tuple[torch.Tensor, ...], space: LabelSpace) -> tuple[torch.Tensor, list[torch.Tensor]]:
    """-> (predicted ids [batch, depth], per-level probabilities)."""
    logprobs = [lg.float().log_softmax(dim=-1) for lg in logits]
    paths = torch.tensor(space.paths, device=logits[0].device)  # [n_paths, depth]
    scores = sum(lp[:, paths[:, i]] for i, lp in enumerate(logprobs))  # [batch, n_paths]
    best = scores.argmax(dim=-1)
    return paths[best], [lp.exp() for lp in logprobs]


def manifest(space: LabelSpace) -> dict:
    """The manifest section describing the tree."""
    return {"taxonomy": {"levels": space.levels, "labels": space.labels, "n_paths": len(space.paths)}}


def describe(pred: list[int], probs: list[list[float]], space: LabelSpace) -> dict:
    names = [space.labels[i][j] for i, j in enumerate(pred)]
    level_scores = {space.levels[i]: probs[i][j] for i, j in enumerate(pred)}
    score = 1.0
    for p in level_scores.values():
        score *= p
    return {"label": " > ".join(names), "path": names, "score": score, "level_scores": level_scores}
