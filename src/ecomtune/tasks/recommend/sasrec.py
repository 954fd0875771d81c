"""SASRec (Kang & McAuley 2018): causal self-attention over the user's history, next-item cross-entropy over the
whole catalogue (the "SASRec with CE loss" variant), with item embeddings that can come from item text.

`item_embedding`:
- `id`: a learned table (the classic model; items never clicked in training keep their random rows);
- `text-init`: the table starts from the item text embeddings (PCA to `hidden` dims), then trains freely;
- `text`: tied to the text — E_i = Linear(text_i); no per-item parameters, so any item with a text has an embedding;
- `text+id`: Linear(text_i) + a learned per-item residual that starts at zero (stays zero for unseen items).
The same matrix E scores the output (logits = h_t Eᵀ), as in SASRec. The block follows RecBole's SASRec (embedding
+ position -> LayerNorm -> dropout -> post-LN Transformer with GELU, inner size 4×hidden), so results compare.
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ecomtune.tasks.recommend.batching import left_pad


class SASRec(nn.Module):
    def __init__(self, n_items: int, hidden: int = 64, layers: int = 2, heads: int = 2, dropout: float = 0.5,
                 max_history: int = 50, item_embedding: str = "id", text: torch.Tensor | None = None):
        super().__init__()
        self.config = {"type": "sasrec", "n_items": n_items, "hidden": hidden, "layers": layers, "heads": heads,
                       "dropout": dropout, "max_history": max_history, "item_embedding": item_embedding}
        self.mode = item_embedding
        self.max_history = max_history
        if item_embedding != "id":
            assert text is not None and text.shape[0] == n_items + 1, "text embeddings: one row per item + padding"
            self.register_buffer("text", text.float().clone(), persistent=True)
        if item_embedding in ("text", "text+id"):
            self.proj = nn.Linear(self.text.shape[1], hidden)
        if item_embedding != "text":
            self.table = nn.Embedding(n_items + 1, hidden, padding_idx=0)
            nn.init.normal_(self.table.weight, std=0.02)
            if item_embedding == "text+id":
                nn.init.zeros_(self.table.weight)
            elif item_embedding == "text-init":
                self.register_buffer("pca", _pca(self.text[1:], hidden), persistent=True)  # [t_dim + 1, hidden]
                with torch.no_grad():
                    self.table.weight.copy_(self.text_init_rows(self.text))
            with torch.no_grad():
                self.table.weight[0].zero_()
        self.position = nn.Embedding(max_history, hidden)
        nn.init.normal_(self.position.weight, std=0.02)
        self.norm = nn.LayerNorm(hidden)
        self.drop = nn.Dropout(dropout)
        block = nn.TransformerEncoderLayer(hidden, heads, 4 * hidden, dropout, activation="gelu", batch_first=True)
        self.blocks = nn.TransformerEncoder(block, layers, enable_nested_tensor=False)
        self.heads = heads

    def text_init_rows(self, text: torch.Tensor) -> torch.Tensor:
        """`text-init`: text embeddings through the stored PCA, scaled like a fresh N(0, 0.02) table."""
        return torch.cat([text, torch.ones(len(text), 1)], 1) @ self.pca

    def item_matrix(self) -> torch.Tensor:
        """[n_items + 1, hidden]: the embedding of every item (row 0: padding)."""
        if self.mode == "text":
            return self.proj(self.text)
        if self.mode == "text+id":
            return self.proj(self.text) + self.table.weight
        return self.table.weight

    def encode(self, seqs: torch.Tensor, items: torch.Tensor | None = None) -> torch.Tensor:
        """[B, L] left-padded item ids -> [B, L, hidden] states (position t sees items <= t)."""
        items = self.item_matrix() if items is None else items
        length = seqs.shape[1]
        real = seqs > 0
        positions = (real.cumsum(1) - 1).clamp(min=0, max=self.max_history - 1)  # 0 at each user's oldest item
        x = self.drop(self.norm(items[seqs] + self.position(positions)))
        causal = torch.ones(length, length, dtype=torch.bool, device=seqs.device).tril()
        allowed = causal & real[:, None, :]
        allowed |= torch.eye(length, dtype=torch.bool, device=seqs.device)  # a padded row still sees itself
        mask = torch.zeros(allowed.shape, device=seqs.device).masked_fill(~allowed, -torch.inf)
        mask = mask.repeat_interleave(self.heads, dim=0)
        return self.blocks(x, mask=mask)

    def user_vectors(self, seqs: torch.Tensor, items: torch.Tensor | None = None) -> torch.Tensor:
        """[B, L] left-padded histories -> [B, hidden] query vectors (score = user · item); `items`: the
        `item_matrix()` already computed (inference: it does not change between calls)."""
        return self.encode(seqs, items)[:, -1]

    def loss(self, batch: dict, trainable: torch.Tensor) -> torch.Tensor:
        """Next-item cross-entropy at every real position, over every trainable item."""
        items = self.item_matrix()
        states = self.encode(batch["inputs"], items)
        real = batch["targets"] > 0
        logits = (states[real] @ items[1:].T).float()  # column j is item j + 1: padding is never a class
        if not trainable[1:].all():  # cold items are not classes either
            logits = logits + torch.zeros_like(trainable[1:], dtype=logits.dtype).masked_fill(~trainable[1:],
                                                                                            -torch.inf)
        return F.cross_entropy(logits, batch["targets"][real] - 1)

    def training_batches(self, train: list[np.ndarray], batch_size: int, rng: np.random.Generator):
        """Batches of users: inputs = sequence[:-1], targets = sequence[1:], last `max_history` positions.

        Users of similar length share a batch (shuffled within groups of 20 batches, then the batches shuffled),
        and a batch pads only to its longest user: most histories are short, so this halves the Transformer work.
        """
        users = [s for s in train if len(s) >= 2]
        order = rng.permutation(len(users))
        group = 20 * batch_size
        batches = []
        for g in range(0, len(order), group):
            chunk = sorted(order[g:g + group], key=lambda i: len(users[i]))
            batches += [chunk[b:b + batch_size] for b in range(0, len(chunk), batch_size)]
        for b in rng.permutation(len(batches)):
            rows = [users[i] for i in batches[b]]
            width = min(self.max_history, max(len(s) for s in rows) - 1)
            yield {"inputs": left_pad([s[:-1] for s in rows], width),
                   "targets": left_pad([s[1:] for s in rows], width)}

    def steps_per_epoch(self, train: list[np.ndarray], batch_size: int) -> int:
        return -(-sum(len(s) >= 2 for s in train) // batch_size)

    def add_items(self, text: torch.Tensor) -> None:
        """Append items known only by their text embeddings (no retraining)."""
        if self.mode == "id":
            from ecomtune.errors import EcomtuneError

            raise EcomtuneError("an ID-only recommender (`item_embedding: id`) cannot embed new items from text — "
                                "train with `model.item_embedding: text` or `text+id`")
        self.text = torch.cat([self.text, text.float()])
        if self.mode != "text":
            new = self.text_init_rows(text) if self.mode == "text-init" else torch.zeros(len(text), self.table.weight.shape[1])
            weight = torch.cat([self.table.weight.data, new.to(self.table.weight.dtype)])
            self.table = nn.Embedding.from_pretrained(weight, freeze=False, padding_idx=0)
        self.config["n_items"] = self.text.shape[0] - 1


def _pca(text: torch.Tensor, hidden: int) -> torch.Tensor:
    """[t_dim + 1, hidden] affine map: centre, project on the top principal axes, scale to std 0.02."""
    mean = text.mean(0)
    centred = text - mean
    _, _, v = torch.linalg.svd(centred, full_matrices=False)
    axes = v[:hidden].T  # [t_dim, k]
    if axes.shape[1] < hidden:  # fewer text dims than hidden: pad with zero axes
        axes = torch.cat([axes, torch.zeros(axes.shape[0], hidden - axes.shape[1])], 1)
    scale = 0.02 / (centred @ axes).std().clamp(min=1e-8)
    weight = axes * scale
    return torch.cat([weight, (-mean @ weight)[None]], 0)
