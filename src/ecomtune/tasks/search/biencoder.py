"""The bi-encoder: one shared text encoder for queries and products, mean-pooled and L2-normalised, so the inner
product is the cosine similarity an index searches.

Training (`train_biencoder`) is MultipleNegativesRanking: for a batch of B queries, each query's positive product
and H mined hard negatives per query, the loss is the cross-entropy of the softmax over `scale` x cosine
similarities of each query against all B x (1 + H) products of the batch, with the query's own positive as the
target. Products in the batch that are relevant to a query (another query's positive for the same need) are
masked out of its softmax, so they never count as negatives.

Hard negatives (`mine_hard_negatives`) come from the encoder before training: the catalogue is embedded once, each
training query's top `mine_top + mine_skip` results are fetched from the index in chunks, relevant products are
dropped, and only `mine_top` row ids per query are kept — memory is queries x mine_top integers, never a
queries x catalogue matrix.
"""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from ecomtune.backbones.encode import pool
from ecomtune.tasks.search.data import QuerySet
from ecomtune.training.meter import Meter
from ecomtune.console import ProgressBar
from ecomtune.training.steps import StepLoop, fit_steps, warmup_then_linear


class BiEncoder:
    """A Hugging Face encoder + tokenizer that turns texts into unit vectors."""

    def __init__(self, model, tokenizer, pooling: str = "mean", query_max_length: int = 24, max_length: int = 32,
                 device: torch.device | str = "cpu"):
        self.model = model.to(device)
        self.tokenizer = tokenizer
        self.pooling = pooling
        self.query_max_length = query_max_length
        self.max_length = max_length
        self.device = torch.device(device)

    @classmethod
    def from_pretrained(cls, path: str | Path, device="cpu", **kw) -> BiEncoder:
        from transformers import AutoModel, AutoTokenizer

        model = AutoModel.from_pretrained(path, dtype=torch.float32)
        tokenizer = AutoTokenizer.from_pretrained(path)
        if tokenizer.pad_token is None:
            tokenizer.pad_token = tokenizer.eos_token or tokenizer.unk_token
        return cls(model.eval(), tokenizer, device=device, **kw)

    def save(self, path: Path) -> None:
        self.model.save_pretrained(path, safe_serialization=True)
        self.tokenizer.save_pretrained(path)

    def forward(self, texts: list[str], max_length: int) -> torch.Tensor:
        """Unit vectors with gradients (training)."""
        batch = self.tokenizer(texts, padding=True, truncation=True, max_length=max_length, return_tensors="pt")
        batch = {k: v.to(self.device) for k, v in batch.items() if k in ("input_ids", "attention_mask")}
        hidden = self.model(**batch).last_hidden_state
        return F.normalize(pool(hidden, batch["attention_mask"], self.pooling), dim=-1)

    @torch.inference_mode()
    def encode(self, texts: list[str], batch_size: int = 128, query: bool = False, progress: str | None = None
               ) -> np.ndarray:
        """float32 [n, dim] unit vectors. Repeated texts are embedded once (a catalogue repeats many titles), in
        length order to waste little padding."""
        self.model.eval()
        max_length = self.query_max_length if query else self.max_length
        distinct = list(dict.fromkeys(texts))
        order = np.argsort([len(t) for t in distinct], kind="stable")
        vectors = np.zeros((len(distinct), self.dim), dtype=np.float32)
        with ProgressBar(progress, len(distinct)) as advance:
            for start in range(0, len(distinct), batch_size):
                rows = order[start:start + batch_size]
                vectors[rows] = self.forward([distinct[i] for i in rows], max_length).float().cpu().numpy()
                advance(len(rows))
        if len(distinct) == len(texts):
            return vectors
        row_of = {t: i for i, t in enumerate(distinct)}
        return vectors[[row_of[t] for t in texts]]

    @property
    def dim(self) -> int:
        return int(self.model.config.hidden_size)


def mine_hard_negatives(query_vectors: np.ndarray, index, queries: QuerySet, mine_top: int = 30,
                        mine_skip: int = 0, chunk: int = 256) -> np.ndarray:
    """int64 [n_queries, mine_top] catalogue rows ranked high but not relevant (-1 pads a short row)."""
    out = np.full((len(queries), mine_top), -1, dtype=np.int64)
    fetch = mine_top + mine_skip
    for start in range(0, len(queries), chunk):
        width = fetch
        block = query_vectors[start:start + chunk]
        while True:
            _, rows = index.search(block, min(width, len(index)))
            done = True
            for j, ranked in enumerate(rows):
                i = start + j
                keep = ranked[queries.grade(i, ranked) < queries.relevant_min[i]][mine_skip:mine_skip + mine_top]
                out[i, :len(keep)] = keep
                done &= len(keep) == mine_top
            # many relevant products at the top: look further down, but never past 8x (bounded work)
            if done or width >= min(8 * fetch, len(index)):
                break
            width = min(width * 2, len(index))
    return out


def train_biencoder(encoder: BiEncoder, catalogue: list[str], queries: QuerySet, hard: np.ndarray | None,
                    t, meter: Meter | None = None, checkpoints: Path | None = None) -> dict:
    """Fine-tune `encoder` in place (see the module docstring), continuing from `checkpoints` when they hold one;
    returns the history and cost numbers."""
    loop = StepLoop(t.seed)
    torch.manual_seed(t.seed)
    meter = meter or Meter(encoder.device)
    before = meter.seconds
    n = len(queries)
    steps_per_epoch = max(1, n // t.batch_size)
    steps = t.max_steps or max(1, math.ceil(steps_per_epoch * t.epochs))
    model = encoder.model
    model.train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=t.learning_rate, weight_decay=t.weight_decay)
    scheduler = warmup_then_linear(optimizer, steps, t.warmup)

    def loss_of():
        batch = loop.batch(n, t.batch_size)
        rows = [int(loop.rng.choice(queries.positives[i])) for i in batch]
        if hard is not None and t.hard_negatives:
            for i in batch:
                pool_ = [r for r in hard[i].tolist() if r >= 0]
                picks = loop.rng.sample(pool_, min(t.hard_negatives, len(pool_)))
                rows += picks + [loop.rng.randrange(len(catalogue)) for _ in range(t.hard_negatives - len(picks))]
        q = encoder.forward([queries.texts[i] for i in batch], encoder.query_max_length)
        p = encoder.forward([catalogue[r] for r in rows], encoder.max_length)
        scores = t.scale * q @ p.T
        mask = torch.zeros_like(scores, dtype=torch.bool)
        cols = np.array(rows)
        for j, i in enumerate(batch):
            relevant = queries.grade(i, cols) >= queries.relevant_min[i]
            relevant[j] = False  # its own positive stays the target
            mask[j] = torch.from_numpy(relevant)
        loss = F.cross_entropy(scores.masked_fill(mask, -1e4), torch.arange(len(batch), device=scores.device))
        return loss, len(batch)

    fit_steps("bi-encoder", model, optimizer, scheduler, loop, steps, steps_per_epoch, loss_of, meter, checkpoints,
              t.checkpoint_minutes)
    seconds = meter.seconds - before
    return {"history": loop.history, "steps": steps, "train_seconds": round(seconds, 1),
            "queries_per_second": round(steps * t.batch_size / seconds, 1) if seconds else None,
            "trainable_params": int(sum(p.numel() for p in model.parameters() if p.requires_grad))}
