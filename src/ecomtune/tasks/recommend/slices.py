"""Slices of a recommender's test cases (reports/slices.py): by history length and by how popular the target item
was in training, each slice scored with the same `ranking_metrics` on its cases' ranks as the whole set.

Cases are users' sequences of item ids, not texts or table rows: text length, language and `evaluation.slices`
columns do not apply (cold-start targets are already reported apart as `test_cold` / `test_warm`).
"""
from __future__ import annotations

from collections import Counter

import numpy as np

from ecomtune.reports.slices import bucket_slices, compute_slices
from ecomtune.retrieval.ranking import ranking_metrics


def recommend_slices(recipe, data, split, ranks: np.ndarray) -> dict:
    """The slice view of `ranks` (the target's rank per case of `split`); `data.train` gives item popularity."""
    e = recipe.evaluation
    ranks = np.asarray(ranks)
    counts = Counter(int(i) for seq in data.train for i in np.asarray(seq).tolist())
    slicings = {"history_length": bucket_slices([len(h) for h in split.histories], "items"),
                "popularity": bucket_slices([counts.get(int(t), 0) for t in split.targets], "interactions")}

    def score(idx: np.ndarray) -> dict:
        return ranking_metrics(ranks[idx], e.ks)

    return compute_slices(slicings, score, e.metric, e.slice_gap, e.min_slice_size)
