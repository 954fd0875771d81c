"""Full-ranking metrics against hand-computed values."""
import math

import numpy as np
import torch

from ecomtune.retrieval.index import build_index
from ecomtune.retrieval.ranking import ranking_metrics, target_ranks


def test_metrics_by_hand():
    m = ranking_metrics(np.array([0, 1, 9, 10]), ks=(1, 10))
    assert m["hr@1"] == 0.25 and m["hr@10"] == 0.75
    assert math.isclose(m["ndcg@10"], (1 + 1 / math.log2(3) + 1 / math.log2(11)) / 4)
    assert math.isclose(m["mrr"], (1 + 1 / 2 + 1 / 10 + 1 / 11) / 4)
    assert m["cases"] == 4


def test_ranks_exclude_history_and_count_ties_against_the_target():
    # 5 items (+ padding column 0)
    scores = torch.tensor([[0.0, 5, 4, 3, 2, 1],    # target 3: items 1, 2 higher, but 1 is history -> rank 1
                           [0.0, 1, 1, 1, 1, 1],    # all tied: target 2 ranks last of 5 -> 4
                           [0.0, 9, 1, 1, 1, 1]])   # target 1 repeats its history: still ranked -> 0
    hist = [np.array([1]), np.array([], dtype=np.int64), np.array([1, 2])]
    targets = np.array([3, 2, 1])
    ranks = target_ranks(lambda rows: scores[rows].clone(), hist, targets, exclude_history=True)
    assert ranks.tolist() == [1, 4, 0]
    assert target_ranks(lambda rows: scores[rows].clone(), hist, targets, exclude_history=False).tolist() == [2, 4, 0]


def test_ranks_are_chunk_independent():
    rng = np.random.default_rng(0)
    scores = torch.from_numpy(rng.normal(size=(50, 31)).astype(np.float32))
    hist = [rng.choice(np.arange(1, 31), 3, replace=False) for _ in range(50)]
    targets = rng.integers(1, 31, size=50)
    a = target_ranks(lambda rows: scores[rows].clone(), hist, targets, chunk=7)
    b = target_ranks(lambda rows: scores[rows].clone(), hist, targets, chunk=1000)
    assert (a == b).all()
    full = scores.clone()
    full[:, 0] = -np.inf
    for i, h in enumerate(hist):  # reference: a plain loop
        row = full[i].clone()
        row[torch.as_tensor(h)] = -np.inf
        row[targets[i]] = full[i, targets[i]]
        assert a[i] == int((row > row[targets[i]]).sum())


def test_exact_and_faiss_indexes_agree():
    rng = np.random.default_rng(1)
    items, queries = rng.normal(size=(200, 16)), rng.normal(size=(5, 16))
    s1, r1 = build_index(items, "exact").search(queries, 10)
    s2, r2 = build_index(items, "faiss-flat").search(queries, 10)
    assert (r1 == r2).all() and np.allclose(s1, s2, atol=1e-4)
    assert (r1[:, 0] == np.argmax(queries @ items.T, axis=1)).all()
    _, r3 = build_index(items, "faiss-hnsw").search(queries, 10)
    assert np.mean([len(set(a) & set(b)) for a, b in zip(r1, r3)]) >= 8  # approximate, but close
