"""Slices of a search run's test queries: by query length and by language (reports/slices.py), each slice scored
with the same `rank_metrics` as the whole set (NDCG@K, MRR, Recall@K over its queries).

Queries without any relevant product are left out, as `rank_metrics` leaves them out of the overall figure. Search
queries are strings with judgments, not rows of a table, so there is no `evaluation.slices` column to slice by.
"""
from __future__ import annotations

import numpy as np

from ecomtune.reports.slices import compute_slices, language_slices, length_slices
from ecomtune.tasks.search.metrics import rank_metrics


def search_slices(recipe, queries, rows: np.ndarray) -> dict:
    """The slice view of rankings `rows` [q, depth] (catalogue rows, best first) of `queries` (a QuerySet)."""
    e = recipe.evaluation
    judged = queries.judgments()
    keep = [i for i, j in enumerate(judged) if j.n_relevant > 0]
    texts = [queries.texts[i] for i in keep]
    ranked = np.asarray(rows)[keep]
    judged = [judged[i] for i in keep]

    def score(idx: np.ndarray) -> dict:
        return rank_metrics(ranked[idx], [judged[i] for i in idx], e.ndcg_k, e.recall_k)

    slicings = {"length": length_slices(texts), "language": language_slices(texts)}
    return compute_slices(slicings, score, f"ndcg@{e.ndcg_k[0]}", e.slice_gap, e.min_slice_size)
