"""The cross-encoder re-ranker: the listwise loss learns to put the relevant product of each group first, the fused
score and the weight tuned on validation queries (weight 0 is the bi-encoder's order)."""
from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from ecomtune.tasks.search.crossencoder import CrossEncoder, fuse, train_crossencoder
from ecomtune.tasks.search.metrics import Judgments
from ecomtune.tasks.search.recipe import SearchTraining
from ecomtune.tasks.search.tables import QuerySet
from ecomtune.tasks.search.train import fused_rankings, tune_weight

COLOURS = ["red", "blue", "black", "white", "green", "pink"]
TYPES = ["shirt", "dress", "shoes", "jeans"]
CATALOGUE = [f"{c} {t}" for c in COLOURS for t in TYPES]


def _queries() -> QuerySet:
    """One query per colour ("red top"); its relevant product is the shirt of that colour."""
    texts = [f"{c} top" for c in COLOURS]
    positives = [np.array([CATALOGUE.index(f"{c} shirt")]) for c in COLOURS]

    def grade(i, rows):
        return np.isin(np.asarray(rows), positives[i]).astype(np.float64)

    return QuerySet(texts, positives, [1.0] * len(texts), grade,
                    lambda i: Judgments(positives[i], np.array([1.0]), 1.0))


@pytest.mark.parametrize("loss", ["listwise", "pointwise"])
def test_reranker_training_lowers_its_loss_and_ranks_the_relevant_product_first(tiny_encoder, loss):
    import torch

    torch.manual_seed(0)
    model = CrossEncoder.from_pretrained(tiny_encoder, max_length=16)
    queries = _queries()
    # negatives: the other products of the query's colour (hard: they share a word with it), all of them in each
    # group, so the groups seen in training are the rankings checked after it
    candidates = np.array([[j for j, p in enumerate(CATALOGUE) if p.startswith(c) and not p.endswith("shirt")]
                           for c in COLOURS])
    t = SearchTraining(learning_rate=1e-3, warmup=0.0, device="cpu",
                       reranker={"loss": loss, "negatives": 3, "batch_size": 8, "epochs": 20,
                                 "learning_rate": 3e-3})
    out = train_crossencoder(model, CATALOGUE, queries, candidates, t, chosen=list(range(len(queries))))
    assert out["loss"] == loss and out["queries"] == len(COLOURS) and out["pairs"] == len(COLOURS) * 4
    losses = [h["loss"] for h in out["history"]]
    assert losses[-1] < 0.5 * losses[0], losses
    first = [int(model.rerank(q, candidates[i].tolist() + queries.positives[i].tolist(), CATALOGUE)[1][0])
             in queries.positives[i] for i, q in enumerate(queries.texts)]
    assert all(first), first


def test_fuse_standardises_both_scores_and_weight_zero_keeps_the_biencoder_order():
    bi = np.array([0.9, 0.8, 0.7, 0.1], np.float32)
    ce = np.array([-5.0, 20.0, 0.0, 1.0], np.float32)  # another scale: a logit
    assert np.argsort(-fuse(bi, ce, 0.0)).tolist() == [0, 1, 2, 3]
    assert np.argsort(-fuse(bi, ce, 1.0)).tolist() == [1, 3, 2, 0]
    assert fuse(bi * 100, ce, 0.5) == pytest.approx(fuse(bi, ce, 0.5), abs=1e-5)  # scale-free
    rows = np.array([[10, 11, 12, 13, 14]])
    out = fused_rankings(rows, np.array([[0.9, 0.8, 0.7, 0.1, 0.0]]), ce[None], 1.0)
    assert out.tolist() == [[11, 13, 12, 10, 14]]  # the rows past the re-ranked top keep their place


def test_tuned_weight_is_the_best_on_validation_and_zero_when_the_reranker_only_hurts():
    rows = np.array([[0, 1, 2, 3], [4, 5, 6, 7]])
    bi = np.array([[0.9, 0.8, 0.7, 0.6], [0.9, 0.8, 0.7, 0.6]])
    judged = [Judgments(np.array([1]), np.array([1.0])), Judgments(np.array([6]), np.array([1.0]))]
    helpful = np.array([[0.0, 9.0, 0.0, 0.0], [0.0, 0.0, 9.0, 0.0]])  # the relevant product on top
    weight, table = tune_weight(rows, bi, helpful, judged, 10)
    assert weight > 0 and table[str(weight)]["mrr"] == 1.0 and table["0.0"]["mrr"] == pytest.approx(0.4167, 1e-3)
    harmful = -helpful  # the relevant product last
    weight, table = tune_weight(rows, bi, harmful, judged, 10)
    assert weight == 0.0 and table["1.0"]["mrr"] == 0.25


def test_recipe_defaults_to_the_listwise_loss():
    r = SearchTraining().reranker
    assert (r.loss, r.negatives, r.validation_queries) == ("listwise", 7, 200)
    assert SimpleNamespace(**r.model_dump()).batch_size == 16
