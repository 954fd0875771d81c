"""The recommender registry: recipe -> model, and saved config -> model (for loading a run directory)."""
from __future__ import annotations

import torch

from ecomtune.registry import Registry
from ecomtune.tasks.recommend.sasrec import SASRec
from ecomtune.tasks.recommend.two_tower import TwoTower

RECOMMENDERS: Registry[type] = Registry("recommender")
RECOMMENDERS.register("sasrec", SASRec)
RECOMMENDERS.register("two_tower", TwoTower)


def build(recipe, n_items: int, text: torch.Tensor | None):
    m, d, t = recipe.model, recipe.data, recipe.training
    if m.type == "sasrec":
        return SASRec(n_items, m.hidden, m.layers, m.heads, m.dropout, d.max_history, m.item_embedding, text)
    return TwoTower(n_items, text, m.hidden, d.max_history, m.user_pooling, m.dropout, t.negatives, m.finetune,
                    profile_dim=text.shape[1] if d.users else 0)


def from_config(config: dict, text: torch.Tensor | None):
    kind = RECOMMENDERS.get(config["type"])
    args = {k: v for k, v in config.items() if k != "type"}
    return kind(text=text, **args)
