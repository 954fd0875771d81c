"""Yes/no prediction: metrics against hand-computed values, the threshold chosen on validation, and the whole
pipeline (majority, TF-IDF with and without context, the fine-tuned classifier on a tiny random BERT)."""
from __future__ import annotations

import numpy as np
import pytest

from ecomtune.tasks.qa.data import load_qa
from ecomtune.tasks.qa.yesno import (
    Majority,
    MiniLMYesNo,
    TfidfYesNo,
    labelled,
    metrics,
    pick_threshold,
    run_yes_no,
)

KEYS = {"accuracy", "macro_f1", "recall_yes", "recall_no", "predicted_yes_share", "rows"}


def test_metrics_match_hand_computed_values():
    m = metrics(np.array([1, 1, 1, 0, 0]), np.array([1, 1, 0, 0, 1]))
    assert m["accuracy"] == 0.6 and m["recall_yes"] == round(2 / 3, 4) and m["recall_no"] == 0.5
    # F1(yes) = 2*(2/3*2/3)/(4/3) = 2/3; F1(no) = 2*(1/2*1/2)/1 = 1/2
    assert m["macro_f1"] == round((2 / 3 + 1 / 2) / 2, 4)
    assert m["predicted_yes_share"] == 0.6 and m["rows"] == 5


def test_pick_threshold_maximises_macro_f1_and_prefers_one_near_half():
    y = np.array([0, 0, 1, 1, 1])
    p = np.array([0.6, 0.7, 0.8, 0.9, 0.95])
    t = pick_threshold(y, p)
    assert 0.7 < t <= 0.8
    assert metrics(y, (p >= t).astype(int))["macro_f1"] == 1.0
    assert pick_threshold(np.array([0, 1]), np.array([0.1, 0.9])) == 0.5


def test_pipeline_on_toy_qa_returns_metrics_of_every_model(qa_csv, tiny_pair_encoder):
    data = load_qa(qa_csv, test=0.25, seed=0)
    models = {"majority": Majority(), "tfidf": TfidfYesNo(), "tfidf+context": TfidfYesNo(context=True),
              "minilm": MiniLMYesNo(tiny_pair_encoder, max_length=48, epochs=2, batch_size=8, learning_rate=1e-3)}
    out = run_yes_no(data, models, validation=0.2, seed=0)
    assert out["rows"]["test"] == len(labelled(data.test)) == 20
    assert out["rows"]["fit"] + out["rows"]["validation"] == len(labelled(data.train))
    for name, result in out["models"].items():
        assert KEYS <= set(result["test"]) and KEYS <= set(result["test_tuned"]), name
        assert 0.05 <= result["threshold"] <= 0.95 and result["seconds"] >= 0
    majority = out["models"]["majority"]["test"]
    assert majority["predicted_yes_share"] in (0.0, 1.0)
    assert majority["accuracy"] == pytest.approx(max(out["yes_share"]["test"], 1 - out["yes_share"]["test"]), abs=1e-4)
    assert [r["epoch"] for r in out["models"]["minilm"]["history"]] == [1, 2]
    assert out["models"]["minilm"]["best_epoch"] in (1, 2)


def test_minilm_yes_no_learns_from_the_question_alone(qa_csv, tiny_pair_encoder):
    """A signal the tiny model can learn: "yes" in the question (and only there) means yes."""
    import torch

    torch.manual_seed(0)
    questions = ["yes the filter" if i % 2 else "no the valve" for i in range(32)]
    y = np.array([i % 2 for i in range(32)])
    model = MiniLMYesNo(tiny_pair_encoder, context=False, max_length=8, epochs=4, batch_size=8,
                        learning_rate=3e-3).fit(questions, [""] * 32, y)
    p = model.predict_proba(questions, [""] * 32)
    assert metrics(y, (p >= 0.5).astype(int))["accuracy"] >= 0.9
