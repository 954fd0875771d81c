"""Ranking metrics with graded judgments: NDCG@K, MRR and Recall@K over a full-catalogue ranking.

Conventions (the same as trec_eval's `ndcg_cut` with linear gains):
- DCG@K = sum over ranks r = 1..K of gain(r) / log2(r + 1); the ideal DCG sorts *every* judged product of the query
  by gain, so a product the ranking never retrieved still counts against it (full ranking, no sampled candidates);
- a product is *relevant* for MRR and Recall@K when its gain is at least the query's `relevant_min` (for the
  fashion relevance set: a product that matches every attribute the query names);
- MRR is the mean of 1 / rank of the first relevant product within the ranking given (0 when none is retrieved);
- Recall@K is the share of the query's relevant products in the top K;
- queries without any relevant product are skipped (counted in `queries_skipped`).
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np


@dataclass
class Judgments:
    """One query's judged products: catalogue rows and their gains (rows not listed have gain 0)."""

    rows: np.ndarray  # int64 [m]
    gains: np.ndarray  # float [m]
    relevant_min: float = 1.0

    def gain_of(self, ranked: np.ndarray) -> np.ndarray:
        lookup = dict(zip(self.rows.tolist(), self.gains.tolist()))
        return np.array([lookup.get(int(r), 0.0) for r in ranked], dtype=np.float64)

    @property
    def n_relevant(self) -> int:
        return int((self.gains >= self.relevant_min).sum())


def dcg(gains: Sequence[float], k: int) -> float:
    g = np.asarray(gains, dtype=np.float64)[:k]
    return float((g / np.log2(np.arange(2, g.size + 2))).sum())


def ndcg(ranked_gains: Sequence[float], all_gains: Sequence[float], k: int) -> float:
    """NDCG@k of one ranking: `ranked_gains` in ranked order, `all_gains` every judged gain of the query."""
    ideal = dcg(sorted(all_gains, reverse=True), k)
    return dcg(ranked_gains, k) / ideal if ideal > 0 else 0.0


def rank_metrics(ranked_rows: np.ndarray | Sequence[Sequence[int]], judgments: Sequence[Judgments],
                 ndcg_k: Sequence[int] = (10,), recall_k: Sequence[int] = (10, 100)) -> dict[str, float]:
    """Mean NDCG@K, MRR and Recall@K of rankings (one row of catalogue indices per query, best first)."""
    ndcgs = {k: [] for k in ndcg_k}
    recalls = {k: [] for k in recall_k}
    rr = []
    skipped = 0
    for ranked, judged in zip(ranked_rows, judgments):
        ranked = np.asarray(ranked, dtype=np.int64)
        n_rel = judged.n_relevant
        if n_rel == 0:
            skipped += 1
            continue
        gains = judged.gain_of(ranked)
        for k in ndcg_k:
            ndcgs[k].append(ndcg(gains, judged.gains, k))
        hit = np.flatnonzero(gains >= judged.relevant_min)
        rr.append(1.0 / (hit[0] + 1) if hit.size else 0.0)
        for k in recall_k:
            recalls[k].append(float((gains[:k] >= judged.relevant_min).sum()) / n_rel)
    out = {f"ndcg@{k}": _mean(v) for k, v in ndcgs.items()}
    out["mrr"] = _mean(rr)
    out.update({f"recall@{k}": _mean(v) for k, v in recalls.items()})
    out["queries"] = float(len(rr))
    out["queries_skipped"] = float(skipped)
    return out


def class_metrics(ranked_rows: np.ndarray, truth_rows: Sequence[int]) -> dict[str, float]:
    """Query categorization: accuracy (top-1) and top-3 accuracy of ranked class rows."""
    ranked = np.asarray(ranked_rows)
    truth = np.asarray(truth_rows)[:, None]
    return {"accuracy": float((ranked[:, :1] == truth).any(1).mean()) if len(truth) else 0.0,
            "top3_accuracy": float((ranked[:, :3] == truth).any(1).mean()) if len(truth) else 0.0}


def _mean(values: list[float]) -> float:
    return round(float(np.mean(values)), 4) if values else 0.0
