"""Imbalanced classification: focal loss, class weights and a decision threshold tuned on validation."""
from __future__ import annotations

import json
from types import SimpleNamespace

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from transformers import AutoModel

import ecomtune
from ecomtune.data.prepare import Split
from ecomtune.errors import DataError, RecipeError
from ecomtune.methods.losses import RecipeLoss, class_weights, focal_loss, recipe_loss
from ecomtune.methods.threshold import apply_threshold, pick_threshold, tune_threshold
from ecomtune.recipes import load_recipe
from ecomtune.recipes.schema import LossConfig, TrainingConfig
from ecomtune.data.labels import LabelSpace
from ecomtune.tasks.text.network import TextClassifier
from tests.conftest import classify_recipe, toy_reviews

SPACE = LabelSpace(levels=["label"], labels=[["fake", "real"]])


def batch(seed: int = 0, n: int = 12, k: int = 3):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, k, generator=g) * 2, torch.randint(0, k, (n,), generator=g)


def test_focal_loss_with_gamma_zero_is_cross_entropy():
    logits, target = batch()
    w = torch.tensor([0.5, 2.0, 1.0])
    assert focal_loss(logits, target, gamma=0) == pytest.approx(F.cross_entropy(logits, target).item(), rel=1e-6)
    assert focal_loss(logits, target, 0, w) == pytest.approx(F.cross_entropy(logits, target, weight=w).item(),
                                                             rel=1e-6)
    assert focal_loss(logits, target, gamma=2) < focal_loss(logits, target, gamma=0)  # easy rows count less
    ignored = target.clone()
    ignored[:4] = -100
    assert focal_loss(logits, ignored, 0) == pytest.approx(F.cross_entropy(logits[4:], target[4:]).item(), rel=1e-6)


def test_focal_loss_down_weights_confident_rows_by_one_minus_p_to_gamma():
    logits = torch.tensor([[3.0, 0.0]])
    p = logits.softmax(-1)[0, 0].item()
    assert focal_loss(logits, torch.tensor([0]), gamma=2) == pytest.approx(-(1 - p) ** 2 * np.log(p), rel=1e-5)


def test_balanced_weights_are_inverse_frequency():
    labels = np.array([[0], [0], [0], [1]])
    (w,) = class_weights(LossConfig(class_weights="balanced"), SPACE, labels)
    assert w.tolist() == pytest.approx([4 / (2 * 3), 4 / (2 * 1)])
    assert class_weights(LossConfig(), SPACE, labels) == [None]
    (given,) = class_weights(LossConfig(class_weights={"fake": 5}), SPACE, labels)
    assert given.tolist() == [5.0, 1.0]  # labels left out weigh 1


def test_unknown_weight_label_names_the_labels():
    with pytest.raises(RecipeError, match=r"'fkae'.*did you mean 'fake'.*labels: fake, real"):
        class_weights(LossConfig(class_weights={"fkae": 5}), SPACE, np.array([[0], [1]]))


def test_network_uses_the_loss_hook(tiny_encoder):
    torch.manual_seed(0)
    backbone = AutoModel.from_pretrained(tiny_encoder)
    ids, mask, labels = torch.tensor([[2, 10, 11, 3], [2, 12, 3, 0]]), torch.tensor([[1, 1, 1, 1], [1, 1, 1, 0]]), \
        torch.tensor([[0], [1]])
    model = TextClassifier(backbone, [2], dropout=0.0).eval()
    out = model(ids, mask, labels)
    assert out["loss"].item() == pytest.approx(F.cross_entropy(out["logits"][0], labels[:, 0]).item())
    model.loss_fn = RecipeLoss("focal", gamma=0.0, weights=[torch.tensor([3.0, 1.0])])
    weighted = model(ids, mask, labels)["loss"].item()
    assert weighted == pytest.approx(F.cross_entropy(out["logits"][0], labels[:, 0],
                                                     weight=torch.tensor([3.0, 1.0])).item(), rel=1e-5)
    assert recipe_loss(TrainingConfig(), SPACE, labels.numpy()) is None  # plain CE: the network's default


def test_threshold_meets_a_recall_target():
    p = np.array([0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.2, 0.1, 0.05])
    pos = np.array([1, 1, 0, 1, 0, 0, 1, 0, 0, 0], bool)
    got = pick_threshold(p, pos, "recall", 0.75)
    assert got == {"value": 0.6, "reached": True, "precision": 0.75, "recall": 0.75}
    assert pick_threshold(p, pos, "recall", 1.0)["value"] == 0.3
    best = pick_threshold(p, pos, "precision", 0.7)  # highest recall with precision >= 0.7
    assert best == {"value": 0.6, "reached": True, "precision": 0.75, "recall": 0.75}
    assert pick_threshold(p, pos, "precision", 1.0)["value"] == 0.8
    assert pick_threshold(np.array([0.9, 0.8]), np.array([False, True]), "precision", 1.0)["reached"] is False
    assert pick_threshold(np.array([0.9, 0.8]), np.array([True, False]), "precision", 1.0)["value"] == 0.9
    assert pick_threshold(np.array([0.9, 0.9]), np.array([True, False]), "precision", 0.9)["reached"] is False
    assert pick_threshold(p, np.zeros(10, bool), "recall", 0.5)["value"] is None


def test_apply_threshold_predicts_the_label_iff_p_reaches_it():
    space = LabelSpace(levels=["l"], labels=[["a", "fake", "real"]])
    probs = [np.array([[0.5, 0.3, 0.2], [0.1, 0.2, 0.7], [0.2, 0.7, 0.1], [0.1, 0.1, 0.8]])]
    pred = probs[0].argmax(1)[:, None]
    got = apply_threshold(pred, probs, {"label": "fake", "value": 0.25}, space)
    assert got[:, 0].tolist() == [1, 2, 1, 2]
    high = apply_threshold(pred, probs, {"label": "fake", "value": 0.8}, space)
    assert high[:, 0].tolist() == [0, 2, 0, 2]  # row 3: 'fake' loses to the best other label
    assert apply_threshold(pred, probs, {"label": "fake", "value": None}, space) is pred


def skewed(path, n: int = 480):
    """About 1 negative in 6."""
    frame = toy_reviews(n)
    frame[(frame["stars"] == 5) | (frame.index % 10 < 2)].to_csv(path, index=False)
    return path


@pytest.fixture
def skewed_csv(tmp_path):
    return skewed(tmp_path / "skewed.csv")


def test_threshold_is_tuned_stored_and_applied_at_predict_time(tiny_encoder, tmp_path):
    data = skewed(tmp_path / "skewed.csv", 720)
    raw = classify_recipe(data, tiny_encoder, tmp_path, epochs=2, loss={"name": "focal", "gamma": 2,
                                                                         "class_weights": "balanced"})
    raw["data"]["split"] = {"test": 0.25, "validation": 0.4}  # 22 negative validation rows: enough to tune on
    raw["evaluation"] = {"baseline": False, "threshold": {"label": "negative", "target": "recall", "value": 0.9}}
    run = ecomtune.train(raw)
    manifest = json.loads((run / "manifest.json").read_text())
    th = manifest["head"]["threshold"]
    assert th["label"] == "negative" and th["target"] == "recall" and th["target_value"] == 0.9
    assert th["reached"] and 0 < th["value"] <= 1
    assert th["validation"]["recall"] >= 0.9
    # validation metrics are computed with the threshold: the stored recall is the one the metrics report
    assert manifest["metrics"]["validation"]["per_class"]["negative"]["recall"] == pytest.approx(
        th["validation"]["recall"])

    model = ecomtune.load(run)
    texts = [f"the dress {w} size {i}" for i, w in enumerate(["great", "awful", "love", "broken", "ugly", "fits"])]
    preds = model.predict(texts)
    for p in preds:
        assert (p["label"] == "negative") == (p["probs"]["negative"] >= th["value"])
    model.threshold = {**th, "value": 0.0}  # every row reaches it
    assert {p["label"] for p in model.predict(texts)} == {"negative"}
    model.threshold = None
    assert [p["label"] for p in model.predict(texts)] == [max(p["probs"], key=p["probs"].get) for p in preds]


class FixedExpert:
    """Stands in for ExpertModel: fixed validation probabilities of (negative, positive)."""

    def __init__(self, p_negative):
        self.probs = np.stack([p_negative, 1 - np.asarray(p_negative)], axis=1)
        self.threshold = None

    def predict_arrays(self, texts, batch_size=64):
        return self.probs.argmax(1)[:, None], [self.probs]


def validation_of(labels: list[int]) -> SimpleNamespace:
    n = len(labels)
    names = [("negative", "positive")[i] for i in labels]
    split = Split("validation", ["t"] * n, [(x,) for x in names], list(range(1, n + 1)), ["v.csv"] * n,
                  labels=np.array(labels)[:, None])
    return SimpleNamespace(validation=split, space=LabelSpace(["stars"], [["negative", "positive"]]), notes=[])


@pytest.mark.parametrize("value, reached", [(0.65, True), (1.0, False)])
def test_tune_threshold_sets_the_expert_rule_or_notes_why_not(tmp_path, value, reached):
    recipe = load_recipe(classify_recipe(tmp_path / "x.csv", "minilm", tmp_path))
    recipe.evaluation.threshold = {"label": "negative", "target": "precision", "value": value}
    prepared = validation_of([1, 0, 0, 1, 0])
    expert = FixedExpert([0.9, 0.8, 0.7, 0.6, 0.1])
    got = tune_threshold(expert, prepared, recipe)
    assert expert.threshold is got and got["reached"] is reached
    assert got["validation"]["argmax_precision"] == pytest.approx(2 / 4)  # argmax flags rows 0-3
    if reached:  # precision >= 0.65 only when flagging the top 3 (2 of them negative)
        assert got["value"] == 0.7 and got["validation"]["precision"] == pytest.approx(2 / 3)
        assert got["validation"]["recall"] == pytest.approx(2 / 3) and not prepared.notes
    else:  # the top row is positive: no threshold gives precision 1
        assert got["value"] is None
        assert prepared.notes[0].startswith("threshold: no threshold reaches precision >= 1.0 for 'negative'")


@pytest.mark.parametrize("section, value, message", [
    ("threshold", {"label": "fake", "target": "recall", "value": 0.9},
     r"`evaluation.threshold.label` is 'fake', which is not a label .* labels: negative, positive"),
    ("loss", {"class_weights": {"negatve": 3}}, r"'negatve'.*did you mean 'negative'.* labels: negative, positive"),
])
def test_unknown_labels_fail_before_training(reviews_csv, tiny_encoder, tmp_path, monkeypatch, section, value,
                                             message):
    raw = classify_recipe(reviews_csv, tiny_encoder, tmp_path)
    if section == "threshold":
        raw["evaluation"]["threshold"] = value
    else:
        raw["training"]["loss"] = value
    monkeypatch.setattr("ecomtune.tasks.text.train.AutoModel.from_pretrained",
                        lambda *a, **k: pytest.fail("weights loaded before the label check"))
    with pytest.raises(RecipeError, match=message):
        ecomtune.train(raw)


@pytest.mark.parametrize("split, rows, others", [({"test": 0.25, "validation": 0.3}, 11, 54),
                                                ({"test": 0.25, "validation": 0.02}, 1, 4)])
def test_threshold_on_too_few_validation_rows_fails_before_training(skewed_csv, tiny_encoder, tmp_path, monkeypatch,
                                                                    split, rows, others):
    raw = classify_recipe(skewed_csv, tiny_encoder, tmp_path)
    raw["data"]["split"] = split
    raw["evaluation"]["threshold"] = {"label": "negative", "target": "recall", "value": 0.9}
    message = (rf"^`evaluation.threshold`: validation holds {rows} row\(s\) of 'negative' and {others} of the other "
               r"labels; tuning a threshold needs at least 20 of each — add validation rows \(a larger "
               r"`data.split.validation`\), or remove `evaluation.threshold`$")
    with pytest.raises(DataError, match=message):
        ecomtune.check_data(raw)
    monkeypatch.setattr("ecomtune.tasks.text.train.AutoModel.from_pretrained",
                        lambda *a, **k: pytest.fail("weights loaded before the validation check"))
    with pytest.raises(DataError, match=message):
        ecomtune.train(raw)


def test_schema_refuses_threshold_outside_classify_and_focal_with_smoothing(tmp_path):
    raw = {"name": "t", "task": "taxonomy", "data": {"train": "x.csv", "text_column": "t", "path_column": "p"},
           "model": {"backbone": "minilm"},
           "evaluation": {"threshold": {"label": "a", "target": "recall", "value": 0.9}}}
    with pytest.raises(RecipeError, match="`evaluation.threshold` is for `task: classify`"):
        load_recipe(raw)
    raw = classify_recipe(tmp_path / "x.csv", "minilm", tmp_path, label_smoothing=0.1, loss={"name": "focal"})
    with pytest.raises(RecipeError, match="label_smoothing"):
        load_recipe(raw)


def test_numeric_labels_are_strings_and_weights_must_be_positive(tmp_path):
    raw = classify_recipe(tmp_path / "x.csv", "minilm", tmp_path, loss={"class_weights": {1: 4, 5: 1}})
    raw["evaluation"]["threshold"] = {"label": 1, "target": "recall", "value": 0.9}
    recipe = load_recipe(raw)
    assert recipe.training.loss.class_weights == {"1": 4.0, "5": 1.0}
    assert recipe.evaluation.threshold.label == "1"
    raw["training"]["loss"] = {"class_weights": {"fake": 0}}
    with pytest.raises(RecipeError, match="class_weights` values must be numbers > 0"):
        load_recipe(raw)


def test_build_model_installs_the_recipe_loss(skewed_csv, tiny_encoder, tmp_path):
    from ecomtune.data.prepare import prepare_data
    from ecomtune.tasks.text.train import build_model

    recipe = load_recipe(classify_recipe(skewed_csv, tiny_encoder, tmp_path,
                                         loss={"name": "focal", "gamma": 1.5, "class_weights": "balanced"}))
    prepared = prepare_data(recipe)
    model, _, _ = build_model(recipe, prepared)
    counts = np.bincount(prepared.train.labels[:, 0])
    assert isinstance(model.loss_fn, RecipeLoss) and model.loss_fn.name == "focal" and model.loss_fn.gamma == 1.5
    assert model.loss_fn.weights[0].tolist() == pytest.approx((counts.sum() / (2 * counts)).tolist())
    assert counts[0] < counts[1] / 3  # the toy data really is skewed: negatives weigh more
