"""Losses for imbalanced classification: class weights and focal loss (`training.loss`).

`recipe_loss` turns the recipe into the `loss_fn` hook of `TextClassifier` (None keeps the network's default:
the summed per-level cross-entropy). Weights are computed per label level from the training labels, so a
taxonomy gets one weight vector per level.
"""
from __future__ import annotations

import difflib

import numpy as np
import torch
import torch.nn.functional as F

from ecomtune.console import say
from ecomtune.errors import RecipeError
from ecomtune.recipes.schema import LossConfig, TrainingConfig
from ecomtune.data.labels import LabelSpace

IGNORE_INDEX = -100  # rows without a label at a level (as in F.cross_entropy)


def focal_loss(logits: torch.Tensor, target: torch.Tensor, gamma: float = 2.0,
               weight: torch.Tensor | None = None) -> torch.Tensor:
    """Focal loss (Lin et al. 2017): cross-entropy scaled by (1 - p_true)^gamma, so easy rows count less.

    With gamma 0 it equals `F.cross_entropy(logits, target, weight=weight)`, including its weighted mean.
    """
    keep = target != IGNORE_INDEX
    logits, target = logits[keep].float(), target[keep]
    if target.numel() == 0:
        return logits.sum() * 0.0
    log_p = F.log_softmax(logits, dim=-1).gather(1, target[:, None]).squeeze(1)
    loss = -((1 - log_p.exp()) ** gamma) * log_p
    if weight is None:
        return loss.mean()
    w = weight.to(loss.device, loss.dtype)[target]
    return (w * loss).sum() / w.sum()


def class_weights(config: LossConfig, space: LabelSpace, labels: np.ndarray) -> list[torch.Tensor | None]:
    """One weight vector per level: `balanced` = n_rows / (n_labels x label count), as scikit-learn's."""
    if config.class_weights == "none":
        return [None] * space.depth
    if config.class_weights == "balanced":
        out = []
        for level, names in enumerate(space.labels):
            column = labels[:, level]
            counts = np.bincount(column[column >= 0], minlength=len(names)).astype(np.float64)
            weights = np.where(counts > 0, counts.sum() / (len(names) * np.maximum(counts, 1)), 1.0)
            out.append(torch.tensor(weights, dtype=torch.float32))
        return out
    given = config.class_weights
    known = sorted({name for names in space.labels for name in names})
    unknown = [name for name in given if name not in known]
    if unknown:
        close = difflib.get_close_matches(unknown[0], known, n=1)
        listed = ", ".join(known[:20]) + (" …" if len(known) > 20 else "")
        raise RecipeError(f"`training.loss.class_weights` names label(s) {', '.join(map(repr, unknown))} that the "
                          f"training data does not have{f' (did you mean {close[0]!r}?)' if close else ''} — "
                          f"labels: {listed}")
    return [torch.tensor([float(given.get(name, 1.0)) for name in names]) for names in space.labels]


class RecipeLoss:
    """The recipe's loss, summed over label levels: `loss(logits_per_level, labels[batch, depth])`.

    A plain callable (not a module), so it adds nothing to the model's saved state.
    """

    def __init__(self, name: str = "ce", gamma: float = 2.0, weights: list[torch.Tensor | None] | None = None,
                 label_smoothing: float = 0.0):
        self.name, self.gamma, self.label_smoothing = name, gamma, label_smoothing
        self.weights = weights

    def __call__(self, logits: tuple[torch.Tensor, ...], labels: torch.Tensor) -> torch.Tensor:
        total = 0.0
        for level, lg in enumerate(logits):
            w = self.weights[level] if self.weights else None
            if self.name == "focal":
                total = total + focal_loss(lg, labels[:, level], self.gamma, w)
            else:
                total = total + F.cross_entropy(lg, labels[:, level], weight=None if w is None else w.to(lg.device),
                                                label_smoothing=self.label_smoothing)
        return total

    def describe(self, space: LabelSpace) -> str:
        text = "cross-entropy" if self.name == "ce" else f"focal loss (gamma {self.gamma:g})"
        if self.weights and self.weights[0] is not None:
            shown = ", ".join(f"{n}={w:.2f}" for n, w in zip(space.labels[-1], self.weights[-1].tolist()))
            text += f", class weights {shown[:200]}"
        return text


def recipe_loss(training: TrainingConfig, space: LabelSpace, labels: np.ndarray) -> RecipeLoss | None:
    """`training.loss` -> the network's loss hook; None for plain cross-entropy (the network's default)."""
    config = training.loss
    if config.name == "ce" and config.class_weights == "none":
        return None
    loss = RecipeLoss(config.name, config.gamma, class_weights(config, space, labels), training.label_smoothing)
    say(f"  loss: {loss.describe(space)}")
    return loss
