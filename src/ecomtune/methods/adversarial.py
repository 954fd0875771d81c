"""Adversarial training on the input embeddings (FGM, PGD): the recipe's adversary.

The shared machinery (`Adversary`, `EmbeddingTarget`, `ADVERSARIES`) is in `adversary.py`; a method is one file
(`fgm.py`, `pgd.py`) with one class registered there. This module imports the methods, so `ADVERSARIES` is full.
"""
from __future__ import annotations

from torch import nn

from ecomtune.methods import fgm, pgd  # noqa: F401  (each registers itself)
from ecomtune.methods.adversary import (
    ADVERSARIES,
    Adversary,
    EmbeddingTarget,
    input_embedding,
    unit,
)
from ecomtune.recipes.schema import AdversarialConfig


def make_adversary(config: AdversarialConfig | None, model: nn.Module) -> Adversary | None:
    """The recipe's adversary (None when off); checks now that the model has token embeddings to perturb."""
    if config is None:
        return None
    input_embedding(model)
    return ADVERSARIES.get(config.method)(config)


__all__ = ["ADVERSARIES", "Adversary", "EmbeddingTarget", "input_embedding", "make_adversary", "unit"]
