"""The cross-encoder re-ranker: the (query, product text) pair read together by one encoder, mean-pooled, and a
linear head that gives a relevance score.

Training (`training.reranker.loss`):
- `listwise` (default): each step scores groups of one relevant product and `negatives` hard negatives — products
  the *fine-tuned* bi-encoder ranks high for the query but that are not relevant, i.e. exactly what the re-ranker
  will see in the top N it re-scores — and minimises the cross-entropy of the softmax over each group with the
  relevant product as the target (sentence-transformers' `CrossEntropyLoss` for cross-encoders).
- `pointwise`: the first version, kept for comparison: binary cross-entropy of each pair's logit against gain /
  max gain. It lowered MRR on the fashion set (0.746 -> 0.505): a women's navy shirt for "men navy shirts" got a
  target of 2/3, so the model learnt to rank partial matches next to full ones — MRR counts only full ones — from
  600 queries x 4 pairs, against the bi-encoder's in-batch softmax that treats partial matches as negatives.

At search time it re-scores the bi-encoder's top N (`model.rerank_top`); `fuse` mixes its scores with the
bi-encoder's (both standardised over the N candidates of the query), with the weight tuned on validation queries
(`model.rerank_weight`): 1 is the cross-encoder alone, 0 the bi-encoder's order.
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

    def rerank(self, query: str, rows: np.ndarray, catalogue: list[str], bi_scores: np.ndarray | None = None,
               weight: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
        """(scores, rows) of `rows` re-sorted best first: by the cross-encoder's logits (`weight` 1), or by `fuse`
        of them with the bi-encoder's `bi_scores`."""
        scores = self.score([query] * len(rows), [catalogue[int(r)] for r in rows])
        if weight < 1 and bi_scores is not None:
            scores = fuse(np.asarray(bi_scores, np.float32), scores, weight)
        order = np.argsort(-scores, kind="stable")
        return scores[order], np.asarray(rows)[order]


def _standardise(x: np.ndarray) -> np.ndarray:
    return (x - x.mean()) / (x.std() + 1e-6)


def fuse(bi_scores: np.ndarray, ce_scores: np.ndarray, weight: float) -> np.ndarray:
    """`weight` x the cross-encoder's + (1 - `weight`) x the bi-encoder's scores of one query's candidates, each
    standardised over the candidates first (a cosine and a logit live on different scales)."""
    return (weight * _standardise(ce_scores) + (1 - weight) * _standardise(bi_scores)).astype(np.float32)


def _groups(queries: QuerySet, chosen: list[int], candidates: np.ndarray, negatives: int, n_products: int,
            rng) -> list[list[int]]:
    """Per chosen query: [a relevant row, `negatives` mined rows (random products pad a short list)]."""
    out = []
    for i in chosen:
        rows = [int(rng.choice(queries.positives[i]))]
        pool_ = [c for c in candidates[i].tolist() if c >= 0]
        rows += rng.sample(pool_, min(negatives, len(pool_)))
        rows += [rng.randrange(n_products) for _ in range(1 + negatives - len(rows))]
        out.append(rows)
    return out


def train_crossencoder(model: CrossEncoder, catalogue: list[str], queries: QuerySet, candidates: np.ndarray,
                       t, meter: Meter | None = None, checkpoints: Path | None = None,
                       chosen: list[int] | None = None) -> dict:
    """Fine-tune on groups of (query, relevant product, mined negatives) — see the module docstring for the two
    losses; `candidates` [n_queries, m] mined rows (-1 = none), `chosen` the queries to train on (default: up to
    `max_queries` drawn at random); continues from `checkpoints` when they hold one."""
    loop = StepLoop(t.seed + 1)
    torch.manual_seed(t.seed + 1)
    meter = meter or Meter(model.device)
    before = meter.seconds
    r = t.reranker
    if chosen is None:
        chosen = loop.rng.sample(range(len(queries)), min(len(queries), r.max_queries or len(queries)))
    chosen = [i for i in chosen if len(queries.positives[i])]
    groups = _groups(queries, chosen, candidates, r.negatives, len(catalogue), loop.rng)
    size = 1 + r.negatives
    if r.loss == "listwise":  # items are groups; a step holds about `batch_size` pairs
        per_step = max(1, r.batch_size // size)
        items = [(i, rows) for i, rows in zip(chosen, groups)]
    else:  # items are pairs with graded targets
        per_step = r.batch_size
        items = []
        for i, rows in zip(chosen, groups):
            gains = queries.grade(i, np.array(rows)) / max(queries.relevant_min[i], 1e-9)
            items += [(i, row, float(min(g, 1.0))) for row, g in zip(rows, gains)]
    steps_per_epoch = max(1, math.ceil(len(items) / per_step))
    steps = max(1, math.ceil(len(items) * r.epochs / per_step))
    optimizer = torch.optim.AdamW(model.parameters(), lr=r.learning_rate, weight_decay=t.weight_decay)
    scheduler = warmup_then_linear(optimizer, steps, t.warmup)

    def loss_of():
        batch = [items[b] for b in loop.batch(len(items), per_step)]
        if r.loss == "listwise":
            qs = [queries.texts[i] for i, rows in batch for _ in rows]
            logits = model(qs, [catalogue[row] for _, rows in batch for row in rows]).view(len(batch), size)
            target = torch.zeros(len(batch), dtype=torch.long, device=model.device)
            return F.cross_entropy(logits, target), len(batch) * size
        target = torch.tensor([g for _, _, g in batch], device=model.device)
        logits = model([queries.texts[i] for i, _, _ in batch], [catalogue[row] for _, row, _ in batch])
        return F.binary_cross_entropy_with_logits(logits, target), len(batch)

    fit_steps("re-ranker", model, optimizer, scheduler, loop, steps, steps_per_epoch, loss_of, meter, checkpoints,
              t.checkpoint_minutes)
    seconds = meter.seconds - before
    pairs = len(groups) * size
    return {"history": loop.history, "steps": steps, "queries": len(groups), "pairs": pairs, "loss": r.loss,
            "train_seconds": round(seconds, 1),
            "pairs_per_second": round(pairs * r.epochs / seconds, 1) if seconds else None,
            "trainable_params": int(sum(p.numel() for p in model.parameters() if p.requires_grad))}
