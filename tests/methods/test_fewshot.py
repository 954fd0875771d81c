"""Few-shot mode (`training.few_shot`): SetFit-style pairs, the two stages, and a run that predicts what they do."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from transformers import AutoModel

import ecomtune
from ecomtune.data.prepare import prepare_data
from ecomtune.errors import DataError, RecipeError
from ecomtune.recipes import load_recipe
from ecomtune.tasks.text.fewshot import contrastive_pairs, embed, fit_head, sentence_model, set_head
from ecomtune.tasks.text.network import TextClassifier
from tests.conftest import classify_recipe, toy_reviews

FEW_SHOT = {"pairs_per_example": 8, "epochs": 3, "batch_size": 16, "learning_rate": 1e-3}


def test_pairs_are_balanced_seeded_and_labelled_right():
    labels = np.array([0] * 10 + [1] * 3 + [2] * 2)
    pairs = contrastive_pairs(labels, 4, seed=1)
    assert len(pairs) == 15 * 4
    assert sum(score for *_, score in pairs) == len(pairs) / 2  # half positive, half negative
    for a, b, score in pairs:
        assert (labels[a] == labels[b]) == (score == 1.0)
        assert score == 0.0 or a != b  # a positive partner is another row of the label
    anchors = [a for a, _, _ in pairs]
    assert all(anchors.count(i) == 4 for i in range(15))  # every row, rare labels included, anchors as many pairs
    assert pairs == contrastive_pairs(labels, 4, seed=1)
    assert pairs != contrastive_pairs(labels, 4, seed=2)
    odd = contrastive_pairs(np.array([0, 0, 1, 1]), 3, seed=0)
    assert sum(s for *_, s in odd) == 6  # odd counts alternate per row, so the whole set is still half and half


def test_pairs_need_two_labels_and_a_lone_row_pairs_with_itself():
    with pytest.raises(DataError, match="at least two labels"):
        contrastive_pairs([1, 1, 1], 4, seed=0)
    pairs = contrastive_pairs([0, 0, 0, 1], 2, seed=0)
    assert (3, 3, 1.0) in pairs


@pytest.mark.parametrize("pooling", ["mean", "cls"])
@pytest.mark.parametrize("n_labels", [2, 3])
def test_network_with_the_copied_head_predicts_what_encoder_plus_lr_predict(tiny_encoder, pooling, n_labels):
    """Stage 2 on the sentence-transformers embeddings, then the LR copied into TextClassifier: same probabilities
    (pooling, padding and the binary LR's single weight vector all have to line up)."""
    torch.manual_seed(0)
    model = TextClassifier(AutoModel.from_pretrained(tiny_encoder), [n_labels], pooling).eval()
    st = sentence_model(model, tiny_encoder, 32, torch.device("cpu"))
    texts = toy_reviews(60)["review"].tolist()
    labels = np.arange(60) % n_labels
    features = embed(st, texts, 16)
    head = fit_head(features, labels, "balanced", seed=0)
    set_head(model, head, n_labels)
    tok = st[0].tokenizer
    enc = tok(texts, padding=True, truncation=True, max_length=32, return_tensors="pt")  # padded together
    with torch.no_grad():
        assert np.allclose(model.encode(enc["input_ids"], enc["attention_mask"]).numpy(), features, atol=1e-5)
        probs = model(enc["input_ids"], enc["attention_mask"])["logits"][0].softmax(-1).numpy()
    assert np.allclose(probs, head.predict_proba(features), atol=1e-5)


def test_head_must_see_every_label(tiny_encoder):
    model = TextClassifier(AutoModel.from_pretrained(tiny_encoder), [3])
    head = fit_head(np.random.default_rng(0).normal(size=(6, 32)), np.array([0, 1] * 3), "none", seed=0)
    with pytest.raises(DataError, match="every label needs training rows"):
        set_head(model, head, 3)


def test_few_shot_run_trains_saves_and_serves_the_two_stage_model(tiny_encoder, tmp_path):
    data = tmp_path / "reviews.csv"
    toy_reviews(160).to_csv(data, index=False)
    raw = classify_recipe(data, tiny_encoder, tmp_path, few_shot=FEW_SHOT)
    raw["evaluation"] = {"baseline": False}
    run = ecomtune.train(raw)
    manifest = json.loads((run / "manifest.json").read_text())
    assert manifest["recipe"]["training"]["few_shot"]["pairs_per_example"] == 8
    assert manifest["cost"]["train_seconds"] > 0 and manifest["cost"]["steps"] > 0
    assert (run / "report.md").exists() or (run / "report.html").exists()
    assert manifest["metrics"]["test"]["accuracy"] > 0.8  # one clear sentiment word per review

    predictor = ecomtune.load(run, precision="fp32")
    texts = toy_reviews(30, seed=7)["review"].tolist()
    served = predictor.predict(texts)
    assert len(served) == 30 and {r["label"] for r in served} <= {"negative", "positive"}

    # the two-stage model rebuilt from the saved encoder: LR refitted on its embeddings of the same training rows
    recipe = load_recipe(raw)
    prepared = prepare_data(recipe)
    saved = TextClassifier(AutoModel.from_pretrained(run / "model"), [2]).eval()
    st = sentence_model(saved, str(run / "model"), 32, torch.device("cpu"))
    head = fit_head(embed(st, prepared.train.texts, 64), prepared.train.labels[:, 0], "balanced", seed=42)
    expected = head.predict_proba(embed(st, texts, 64))
    _, (got,) = predictor.predict_arrays(texts, 64)
    assert np.allclose(got, expected, atol=1e-4)
    assert [r["label"] for r in served] == [predictor.space.labels[0][i] for i in expected.argmax(1)]


def test_few_shot_recipe_errors_name_the_key(tiny_encoder, tmp_path, products_csv):
    raw = classify_recipe(tmp_path / "x.csv", tiny_encoder, tmp_path, few_shot={"pairs_per_example": 1})
    with pytest.raises(RecipeError, match="pairs_per_example"):
        load_recipe(raw)
    raw = classify_recipe(tmp_path / "x.csv", tiny_encoder, tmp_path, few_shot={}, early_stopping={"patience": 1})
    with pytest.raises(RecipeError, match="`training.few_shot`.*`training.early_stopping`"):
        load_recipe(raw)
    taxonomy = {"name": "t", "task": "taxonomy", "data": {"train": str(products_csv), "text_column": "title",
                                                           "path_column": "path"},
                "model": {"backbone": tiny_encoder}, "training": {"few_shot": {}}}
    with pytest.raises(RecipeError, match="`training.few_shot` supports `task: classify`"):
        load_recipe(taxonomy)
