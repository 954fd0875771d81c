"""Metrics against hand-computed values; taxonomy decoding always returns a path seen in training."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from ecomtune.tasks.classify import metrics as cm
from ecomtune.tasks.classify import model as cmodel
from ecomtune.data.labels import LabelSpace
from ecomtune.backbones.encode import pool
from ecomtune.tasks.taxonomy import metrics as tm
from ecomtune.tasks.taxonomy import model as tmodel


def test_classify_metrics_by_hand():
    space = LabelSpace(["y"], [["neg", "pos"]], [(0,), (1,)])
    true = np.array([[0], [0], [1], [1], [1]])
    pred = np.array([[0], [1], [1], [1], [0]])
    m = cm.compute(true, pred, space)
    assert m["accuracy"] == pytest.approx(0.6)
    # neg: P=1/2 R=1/2 F=1/2; pos: P=2/3 R=2/3 F=2/3
    assert m["per_class"]["neg"]["f1"] == pytest.approx(0.5)
    assert m["per_class"]["pos"]["precision"] == pytest.approx(2 / 3)
    assert m["macro_f1"] == pytest.approx((0.5 + 2 / 3) / 2)
    assert m["weighted_f1"] == pytest.approx((0.5 * 2 + 2 / 3 * 3) / 5)
    assert m["confusion_matrix"] == [[1, 1], [1, 2]]


def test_taxonomy_metrics_by_hand():
    space = LabelSpace(["l1", "l2"], [["A", "B"], ["a1", "a2", "b1"]], [(0, 0), (0, 1), (1, 2)])
    true = np.array([[0, 0], [0, 1], [1, 2], [1, 2]])
    pred = np.array([[0, 0], [0, 0], [1, 2], [0, 1]])
    m = tm.compute(true, pred, space)
    assert m["levels"]["l1"]["accuracy"] == pytest.approx(0.75)
    assert m["levels"]["l2"]["accuracy"] == pytest.approx(0.5)
    assert m["path_accuracy"] == pytest.approx(0.5)
    assert m["valid_path_rate"] == 1.0
    m2 = tm.compute(true, np.array([[1, 0], [0, 1], [1, 2], [1, 2]]), space)
    assert m2["valid_path_rate"] == pytest.approx(0.75)


def test_taxonomy_decoding_is_always_a_valid_path():
    space = LabelSpace(["l1", "l2", "l3"], [["A", "B"], ["x", "y", "z"], ["p", "q", "r", "s"]],
                       [(0, 0, 0), (0, 1, 1), (1, 2, 2), (1, 2, 3)])
    torch.manual_seed(0)
    logits = tuple(torch.randn(500, n) * 5 for n in space.sizes)
    pred, probs = tmodel.decode(logits, space)
    assert {tuple(p) for p in pred.tolist()} <= set(space.paths)
    # per-level argmax would often produce invalid combinations; the decoder never does
    argmax = torch.stack([lg.argmax(-1) for lg in logits], dim=1)
    assert any(tuple(p) not in set(space.paths) for p in argmax.tolist())
    # the chosen path has the highest joint score
    lp = [lg.log_softmax(-1) for lg in logits]
    for b in range(5):
        scores = [sum(float(lp[i][b, p[i]]) for i in range(3)) for p in space.paths]
        assert tuple(pred[b].tolist()) == space.paths[int(np.argmax(scores))]


def test_classify_decode_and_describe():
    space = LabelSpace(["y"], [["neg", "pos"]], [(0,), (1,)])
    pred, probs = cmodel.decode((torch.tensor([[0.0, 2.0], [3.0, 0.0]]),), space)
    assert pred[:, 0].tolist() == [1, 0]
    out = cmodel.describe(pred[0].tolist(), [probs[0][0].tolist()], space)
    assert out["label"] == "pos" and out["score"] == pytest.approx(1 / (1 + np.exp(-2)))


def test_pooling():
    hidden = torch.arange(2 * 3 * 1, dtype=torch.float).reshape(2, 3, 1)
    mask = torch.tensor([[1, 1, 0], [1, 1, 1]])
    assert pool(hidden, mask, "mean")[:, 0].tolist() == [0.5, 4.0]
    assert pool(hidden, mask, "cls")[:, 0].tolist() == [0.0, 3.0]
    assert pool(hidden, mask, "last")[:, 0].tolist() == [1.0, 5.0]
    left = torch.tensor([[0, 1, 1], [1, 1, 1]])  # left padding
    assert pool(hidden, left, "last")[:, 0].tolist() == [2.0, 5.0]


def test_label_space_round_trip():
    space = LabelSpace.from_rows(["a", "b"], [("x", "1"), ("y", "2"), ("x", "2")])
    again = LabelSpace.from_dict(space.to_dict())
    assert again == space and again.encode([("y", "2")]).tolist() == [[1, 1]]
