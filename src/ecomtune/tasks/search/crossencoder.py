"""The cross-encoder re-ranker: the (query, product text) pair read together by one encoder, mean-pooled, and a
linear head that gives a relevance score.

Training uses graded labels: each training query contributes its positive and `negatives` products drawn from the
bi-encoder's mined top results, each with target gain / max gain (a women's navy shirt for "men navy shirts" is
2/3, not 0), and the loss is binary cross-entropy on the score's logit — a pointwise loss on graded targets.
At search time it re-scores the bi-encoder's top N (`model.rerank_top`) and sorts them by its score.
"""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from safetensors.torch import load_file, save_file
from torch import nn

from ecomtune.backbones.encode import pool
from ecomtune.tasks.search.data import QuerySet
from ecomtune.training.meter import Meter
from ecomtune.training.steps import StepLoop, fit_steps, warmup_then_linear

HEAD = "head.safetensors"


class CrossEncoder(nn.Module):
    """Encoder + mean pooling + `nn.Linear(hidden, 1)`; `score(queries, texts)` -> float32 logits."""

    def __init__(self, backbone, tokenizer, max_length: int = 48):
        super().__init__()
        self.backbone = backbone
        self.tokenizer = tokenizer
        self.max_length = max_length
        self.head = nn.Linear(backbone.config.hidden_size, 1)

    @classmethod
    def from_pretrained(cls, path: str | Path, max_length: int = 48, device="cpu") -> CrossEncoder:
        from transformers import AutoModel, AutoTokenizer

        model = cls(AutoModel.from_pretrained(path, dtype=torch.float32), AutoTokenizer.from_pretrained(path),
                    max_length)
        head = Path(path) / HEAD
        if head.is_file():
            model.head.load_state_dict({k.removeprefix("head."): v for k, v in load_file(str(head)).items()})
        return model.to(device).eval()

    def save(self, path: Path) -> None:
        self.backbone.save_pretrained(path, safe_serialization=True)
        self.tokenizer.save_pretrained(path)
        save_file({f"head.{k}": v.detach().cpu().contiguous() for k, v in self.head.state_dict().items()},
                  str(Path(path) / HEAD))

    @property
    def device(self) -> torch.device:
        return self.head.weight.device

    def forward(self, queries: list[str], texts: list[str]) -> torch.Tensor:
        batch = self.tokenizer(queries, texts, padding=True, truncation="longest_first", max_length=self.max_length,
                               return_tensors="pt")
        batch = {k: v.to(self.device) for k, v in batch.items()}
        hidden = self.backbone(**batch).last_hidden_state
        return self.head(pool(hidden, batch["attention_mask"], "mean")).squeeze(-1)

    @torch.inference_mode()
    def score(self, queries: list[str], texts: list[str], batch_size: int = 64) -> np.ndarray:
        self.eval()
        out = [self.forward(queries[s:s + batch_size], texts[s:s + batch_size]).float().cpu().numpy()
               for s in range(0, len(texts), batch_size)]
        return np.concatenate(out) if out else np.zeros(0, np.float32)

    def rerank(self, query: str, rows: np.ndarray, catalogue: list[str]) -> tuple[np.ndarray, np.ndarray]:
        """(scores, rows) of `rows` re-sorted by the cross-encoder, best first."""
        scores = self.score([query] * len(rows), [catalogue[int(r)] for r in rows])
        order = np.argsort(-scores, kind="stable")
        return scores[order], np.asarray(rows)[order]


def train_crossencoder(model: CrossEncoder, catalogue: list[str], queries: QuerySet, candidates: np.ndarray,
                       t, meter: Meter | None = None, checkpoints: Path | None = None) -> dict:
    """Fine-tune on (query, product, gain / max gain) pairs; `candidates` [n_queries, m] mined rows (-1 = none);
    continues from `checkpoints` when they hold one."""
    loop = StepLoop(t.seed + 1)
    torch.manual_seed(t.seed + 1)
    meter = meter or Meter(model.device)
    before = meter.seconds
    r = t.reranker
    n = min(len(queries), r.max_queries or len(queries))
    chosen = loop.rng.sample(range(len(queries)), n)
    pairs: list[tuple[int, int, float]] = []
    for i in chosen:
        rows = [int(loop.rng.choice(queries.positives[i]))]
        pool_ = [c for c in candidates[i].tolist() if c >= 0]
        rows += loop.rng.sample(pool_, min(r.negatives, len(pool_)))
        rows += [loop.rng.randrange(len(catalogue)) for _ in range(1 + r.negatives - len(rows))]
        gains = queries.grade(i, np.array(rows)) / max(queries.relevant_min[i], 1e-9)
        pairs += [(i, row, float(min(g, 1.0))) for row, g in zip(rows, gains)]
    steps_per_epoch = max(1, math.ceil(len(pairs) / r.batch_size))
    steps = max(1, math.ceil(len(pairs) * r.epochs / r.batch_size))
    optimizer = torch.optim.AdamW(model.parameters(), lr=r.learning_rate, weight_decay=t.weight_decay)
    scheduler = warmup_then_linear(optimizer, steps, t.warmup)

    def loss_of():
        batch = loop.batch(len(pairs), r.batch_size)
        qs = [queries.texts[pairs[b][0]] for b in batch]
        ts = [catalogue[pairs[b][1]] for b in batch]
        target = torch.tensor([pairs[b][2] for b in batch], device=model.device)
        return F.binary_cross_entropy_with_logits(model(qs, ts), target), len(batch)

    fit_steps("re-ranker", model, optimizer, scheduler, loop, steps, steps_per_epoch, loss_of, meter, checkpoints,
              t.checkpoint_minutes)
    seconds = meter.seconds - before
    return {"history": loop.history, "steps": steps, "pairs": len(pairs), "train_seconds": round(seconds, 1),
            "pairs_per_second": round(steps * r.batch_size / seconds, 1) if seconds else None,
            "trainable_params": int(sum(p.numel() for p in model.parameters() if p.requires_grad))}
