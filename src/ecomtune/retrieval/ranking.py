"""Full-ranking metrics for one held-out target per case: HR@K, NDCG@K, MRR — over the WHOLE catalogue.

Every case scores every item (no sampled negatives). Items in the case's history are excluded (scored -inf) unless
`exclude_history=False` (a target that repeats a history item stays ranked); the target's rank is the number of items scoring strictly higher plus the number tied
with it (pessimistic: a model that scores everything equally ranks its target last, not first).
HR@K = [rank < K]; NDCG@K = 1/log2(rank + 2) when rank < K (one relevant item, so the ideal DCG is 1);
MRR = mean 1/(rank + 1) over the full ranking. Work is chunked by cases, so memory is chunk × catalogue floats.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import torch


def pad_histories(histories: Sequence[np.ndarray], width: int | None = None) -> torch.Tensor:
    """Left-aligned [n, width] tensor of item ids, 0-padded (the most recent `width` items of each)."""
    width = width or max((len(h) for h in histories), default=1) or 1
    out = torch.zeros((len(histories), width), dtype=torch.long)
    for row, h in enumerate(histories):
        h = np.asarray(h[-width:], dtype=np.int64)
        if len(h):
            out[row, :len(h)] = torch.from_numpy(h)
    return out


@torch.inference_mode()
def target_ranks(score_fn: Callable[[slice], torch.Tensor], histories: Sequence[np.ndarray], targets: np.ndarray,
                 exclude_history: bool = True, chunk: int = 2048) -> np.ndarray:
    """0-based rank of each target. `score_fn(rows)` returns a new [len(rows), n_items + 1] tensor of those
    cases' scores (column 0 is the padding item, never ranked); it is edited in place."""
    ranks = np.zeros(len(targets), dtype=np.int64)
    for start in range(0, len(targets), chunk):
        rows = slice(start, min(start + chunk, len(targets)))
        scores = score_fn(rows).float()  # a fresh tensor: edited in place below
        t = torch.as_tensor(targets[rows], dtype=torch.long)
        scores[:, 0] = -torch.inf
        if exclude_history:
            hist = pad_histories(histories[rows])
            keep = scores.gather(1, t[:, None])  # a target that repeats a history item is still ranked
            scores.scatter_(1, hist, -torch.inf)
            scores.scatter_(1, t[:, None], keep)
        target = scores.gather(1, t[:, None])
        ranks[rows] = ((scores >= target).sum(1) - 1).numpy()  # higher + tied, less the target itself
    return ranks


def ranking_metrics(ranks: np.ndarray, ks: Sequence[int] = (5, 10, 20)) -> dict:
    """{"hr@K", "ndcg@K" for each K, "mrr", "cases"} from 0-based target ranks."""
    ranks = np.asarray(ranks)
    if len(ranks) == 0:
        return {"cases": 0}
    out: dict = {}
    for k in ks:
        hit = ranks < k
        out[f"hr@{k}"] = float(hit.mean())
        out[f"ndcg@{k}"] = float(np.where(hit, 1.0 / np.log2(ranks + 2.0), 0.0).mean())
    out["mrr"] = float((1.0 / (ranks + 1.0)).mean())
    out["cases"] = len(ranks)
    return out
