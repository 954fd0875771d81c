"""Two-tower recommender on language-model item embeddings, with the bilinear score f(u, i) = h_uᵀ W h_i.

- Item tower: the item's text through a text encoder (minilm by default) then a learned projection, h_i. With
  `finetune: frozen` the encoder's embeddings are computed once and cached; with `lora` / `full` the encoder trains
  too: candidates (targets and negatives) go through it with gradients each step, while history items are read
  from a cache of item-tower outputs that is refreshed every `refresh_every` steps (encoding every history item of
  every step would cost ~10× more on a CPU). After training the cache is recomputed with the final encoder and
  saved, so inference needs no encoder except to embed new items.
- User tower: the history's item embeddings (+ a position embedding, newest = 0), pooled by a masked mean and/or
  a learned attention query; `mean+attention` concatenates both and projects back to `hidden`.
- Optional profile text (`data.users`): the user's profile is embedded by the same (frozen) encoder and a learned
  projection (no bias, so a user without a profile adds nothing) is added to the pooled history. Training then also
  predicts each user's first item from the profile alone, the case of a new user.
- Score: h_uᵀ W h_i with W a learned [hidden, hidden] matrix (starts as the identity). Trained with a softmax over
  the batch's targets (in-batch negatives) plus `negatives` uniformly sampled items, with the logQ correction of
  each candidate's sampling probability, and false negatives (a candidate equal to the row's target) masked.
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ecomtune.tasks.recommend.batching import left_pad


class TwoTower(nn.Module):
    def __init__(self, n_items: int, text: torch.Tensor, hidden: int = 64, max_history: int = 50,
                 user_pooling: str = "mean+attention", dropout: float = 0.1, negatives: int = 256,
                 finetune: str = "frozen", profile_dim: int = 0):
        super().__init__()
        self.config = {"type": "two_tower", "n_items": n_items, "hidden": hidden, "max_history": max_history,
                       "user_pooling": user_pooling, "dropout": dropout, "finetune": finetune,
                       "profile_dim": profile_dim}
        self.max_history = max_history
        self.negatives = negatives
        self.pooling = user_pooling
        self.register_buffer("text", text.float().clone(), persistent=True)  # item-tower encoder outputs (cache)
        self.item_proj = nn.Linear(text.shape[1], hidden)
        self.position = nn.Embedding(max_history, hidden)
        nn.init.normal_(self.position.weight, std=0.02)
        self.attn_key = nn.Linear(hidden, hidden)
        self.attn_query = nn.Parameter(torch.zeros(hidden))
        self.combine = nn.Linear(2 * hidden, hidden) if user_pooling == "mean+attention" else None
        self.drop = nn.Dropout(dropout)
        self.W = nn.Parameter(torch.eye(hidden))
        self.profile_proj = nn.Linear(profile_dim, hidden, bias=False) if profile_dim else None
        self.profile_table: torch.Tensor | None = None  # training users' profile embeddings [n_users, profile_dim]
        self.encoder = None  # (tokenizer, model, pooling, texts, max_length) while fine-tuning the item tower
        self.item_log_q: torch.Tensor | None = None  # log sampling probability of in-batch candidates

    # --- towers -----------------------------------------------------------------------------------------------
    def item_matrix(self) -> torch.Tensor:
        return self.item_proj(self.text)

    def items_with_grad(self, ids: torch.Tensor) -> torch.Tensor:
        """Item-tower outputs of `ids`, through the encoder (with gradients) when it is being fine-tuned."""
        if self.encoder is None:
            return self.item_proj(self.text[ids])
        from ecomtune.backbones.encode import length_sorted_batches
        from ecomtune.tasks.recommend.item_text import embed

        tokenizer, model, pooling, texts, max_length = self.encoder
        unique, inverse = torch.unique(ids, return_inverse=True)
        out = torch.zeros(len(unique), self.text.shape[1], device=self.text.device)
        rows = [texts[i] for i in unique.tolist()]
        for idx, tok, mask in length_sorted_batches(tokenizer, rows, max_length, len(unique)):
            out[torch.as_tensor(idx)] = embed(model, tok.to(out.device), mask.to(out.device), pooling)
        return self.item_proj(out)[inverse]

    def user_vectors(self, seqs: torch.Tensor, items: torch.Tensor | None = None,
                     profiles: torch.Tensor | None = None) -> torch.Tensor:
        """[B, L] left-padded histories (+ [B, profile_dim] profile embeddings, zero rows = none) -> [B, hidden]
        query vectors q = h_uᵀ W (score = q · h_i)."""
        state = self.user_state(seqs, items)
        if self.profile_proj is not None and profiles is not None:
            state = state + self.profile_proj(self.drop(profiles))
        return state @ self.W

    def user_state(self, seqs: torch.Tensor, items: torch.Tensor | None = None) -> torch.Tensor:
        real = seqs > 0
        hist = (self.item_matrix() if items is None else items)[seqs]  # [B, L, h]
        hist = self.drop(hist)
        weights = real.unsqueeze(-1).float()
        mean = (hist * weights).sum(1) / weights.sum(1).clamp(min=1)
        if self.pooling == "mean":
            return mean
        recency = (real.flip(1).cumsum(1).flip(1) - 1).clamp(min=0, max=self.max_history - 1)  # newest = 0
        keys = torch.tanh(self.attn_key(hist + self.position(recency)))
        scores = (keys @ self.attn_query).masked_fill(~real, -torch.inf)
        scores = torch.where(real.any(1, keepdim=True), scores, torch.zeros_like(scores))  # empty history
        attn = (torch.softmax(scores, 1).unsqueeze(-1) * hist).sum(1)
        if self.pooling == "attention":
            return attn
        return self.combine(torch.cat([mean, attn], 1))

    # --- training ---------------------------------------------------------------------------------------------
    def loss(self, batch: dict, trainable: torch.Tensor) -> torch.Tensor:
        targets = batch["targets"]
        candidates = [targets]
        log_q = [self.item_log_q[targets] + np.log(len(targets))]
        pool = torch.nonzero(trainable).squeeze(1)
        if self.negatives:
            sampled = pool[torch.randint(len(pool), (self.negatives,), device=pool.device)]
            candidates.append(sampled)
            log_q.append(torch.full((self.negatives,), float(np.log(self.negatives / len(pool))), device=pool.device))
        cand = torch.cat(candidates)
        users = self.user_vectors(batch["inputs"], profiles=batch.get("profiles"))  # history: cached encoder outputs
        logits = users @ self.items_with_grad(cand).T - torch.cat(log_q)
        false_negative = cand[None, :] == targets[:, None]
        false_negative[torch.arange(len(targets)), torch.arange(len(targets))] = False
        logits = logits.masked_fill(false_negative, -torch.inf)
        return F.cross_entropy(logits, torch.arange(len(targets), device=logits.device))

    def training_batches(self, train: list[np.ndarray], batch_size: int, rng: np.random.Generator):
        """Every (prefix, next item) pair of every training sequence, shuffled; with profiles, the empty prefix
        too, so that the user tower learns to answer from the profile alone (a user with no history yet)."""
        histories, targets = self._pairs(train)
        order = rng.permutation(len(targets))
        for start in range(0, len(order), batch_size):
            rows = order[start:start + batch_size]
            batch = {"inputs": left_pad([histories[i][0][:histories[i][1]] for i in rows], self.max_history),
                     "targets": torch.as_tensor(targets[rows])}
            if self.profile_table is not None:
                batch["profiles"] = self.profile_table[torch.as_tensor([histories[i][2] for i in rows])]
            yield batch

    def _pairs(self, train):
        if getattr(self, "_pair_cache", None) is None or self._pair_cache[0] is not train:
            hist, tgt = [], []
            first = 0 if self.profile_table is not None else 1  # with profiles: also "new user, profile only"
            for u, s in enumerate(train):
                for j in range(first, len(s)):
                    hist.append((s, j, u))
                    tgt.append(s[j])
            counts = np.bincount(np.asarray(tgt, dtype=np.int64), minlength=len(self.text)).astype(np.float64)
            log_q = np.log(np.maximum(counts, 1) / max(1, counts.sum()))
            self.item_log_q = torch.as_tensor(log_q, dtype=torch.float32, device=self.text.device)
            self._pair_cache = (train, hist, np.asarray(tgt, dtype=np.int64))
        return self._pair_cache[1], self._pair_cache[2]

    def steps_per_epoch(self, train: list[np.ndarray], batch_size: int) -> int:
        return -(-len(self._pairs(train)[1]) // batch_size)

    def add_items(self, text: torch.Tensor) -> None:
        """Append items known only by their text embeddings (no retraining)."""
        self.text = torch.cat([self.text, text.float().to(self.text.device)])
        self.config["n_items"] = self.text.shape[0] - 1
