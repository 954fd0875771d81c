"""The matching model: scene (room photo regions and/or its caption or a request) x product (photo + text) -> score.

Two towers over the frozen backbone features, each a residual low-rank map that starts as the identity, so
training begins at the frozen model and moves only as far as the rooms justify:

- photo: every region of the room photo against the product photo; a product's visual score is its best region
  (the sofa is somewhere in the picture) — `max_r cos(R(region_r), P(photo))`;
- text: the caption or request against the product text — `cos(T(text), product_text)`.

Training is a multi-positive softmax over the whole catalogue (every product of the room is a positive, every other
product a negative), on cached features, so it takes seconds to minutes on a CPU. New products are scored from
their photo and text alone: no product has a learned id vector.
"""
from __future__ import annotations

import random
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn


class Residual(nn.Module):
    """x -> x + V(U(x)), V zero-initialised: the identity until trained."""

    def __init__(self, dim: int, rank: int):
        super().__init__()
        self.down = nn.Linear(dim, rank, bias=False)
        self.up = nn.Linear(rank, dim, bias=False)
        nn.init.zeros_(self.up.weight)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.normalize(x + self.up(self.down(x)), dim=-1)


class Matcher(nn.Module):
    def __init__(self, image_dim: int, text_dim: int, rank: int = 64):
        super().__init__()
        self.image_dim, self.text_dim, self.rank = image_dim, text_dim, rank
        if image_dim:
            self.product_photo = Residual(image_dim, rank)
            self.room_region = Residual(image_dim, rank)
        self.scene_text = Residual(text_dim, rank)

    def config(self) -> dict:
        return {"image_dim": self.image_dim, "text_dim": self.text_dim, "rank": self.rank}

    def products(self, photos: torch.Tensor | None) -> torch.Tensor | None:
        """The product photo vectors in the shared space (zero rows stay zero: no photo)."""
        if photos is None or not self.image_dim:
            return None
        return self.product_photo(photos) * (photos.abs().sum(-1, keepdim=True) > 0)

    def score(self, products: torch.Tensor | None, product_texts: torch.Tensor, regions: torch.Tensor | None,
              text: torch.Tensor | None, text_weight: float = 1.0) -> torch.Tensor:
        """[n products] scores for one scene: the photo's best-region score plus `text_weight` x the text score."""
        out = torch.zeros(product_texts.shape[0])
        if regions is not None and products is not None:
            out = out + (self.room_region(regions) @ products.T).max(0).values
        if text is not None:
            out = out + text_weight * (self.scene_text(text) @ product_texts.T)
        return out


@dataclass
class Example:
    """One training room: its products (catalogue rows) and what describes it."""

    positives: list[int]
    regions: torch.Tensor | None
    text: torch.Tensor | None


def fit(model: Matcher, photos: torch.Tensor | None, texts: torch.Tensor, examples: list[Example], *, epochs: int,
        batch_size: int, learning_rate: float, weight_decay: float, temperature: float = 0.05, seed: int = 42,
        meter=None, progress=None) -> list[dict]:
    """Train in place; returns the loss per epoch. A room with a photo and a caption teaches both towers, each on
    its own (the photo must find the products without the caption, and the caption without the photo)."""
    rng = random.Random(seed)
    torch.manual_seed(seed)
    opt = torch.optim.AdamW(model.parameters(), lr=learning_rate, weight_decay=weight_decay)
    # (positives, regions, text): the photo-only and the caption-only view of every room, batched apart so the
    # few photo rooms are not averaged away among the many caption rooms
    views = {"photo": [(e.positives, e.regions, None) for e in examples if e.regions is not None],
             "caption": [(e.positives, None, e.text) for e in examples if e.text is not None]}
    history = []
    for epoch in range(epochs):
        batches = []
        for rows in views.values():
            rows = rows[:]
            rng.shuffle(rows)
            batches += [rows[i:i + batch_size] for i in range(0, len(rows), batch_size)]
        rng.shuffle(batches)
        total = 0.0
        for batch in batches:
            products = model.products(photos)
            losses = [-torch.log_softmax(model.score(products, texts, regions, text) / temperature, 0)[pos].mean()
                      for pos, regions, text in batch]
            loss = torch.stack(losses).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += float(loss.detach()) * len(batch)
            if meter is not None:
                meter.count(len(batch))
        history.append({"epoch": epoch + 1, "loss": round(total / max(sum(map(len, views.values())), 1), 4)})
        if progress is not None:
            progress(epoch + 1, history[-1]["loss"])
    model.eval()
    return history


def ranking_metrics(scores: list[np.ndarray], positives: list[list[int]], ks=(10, 50)) -> dict:
    """Recall@k (share of the room's products in the top k) and NDCG@10, averaged over rooms."""
    out = {f"recall@{k}": 0.0 for k in ks} | {"ndcg@10": 0.0}
    for s, pos in zip(scores, positives):
        order = np.argsort(-s, kind="stable")[:max(ks)]
        wanted = set(pos)
        for k in ks:
            out[f"recall@{k}"] += len(wanted & set(order[:k].tolist())) / len(wanted)
        dcg = sum(1 / np.log2(r + 2) for r, p in enumerate(order[:10]) if p in wanted)
        out["ndcg@10"] += dcg / sum(1 / np.log2(r + 2) for r in range(min(10, len(wanted))))
    return {k: round(float(v) / max(len(scores), 1), 4) for k, v in out.items()}
