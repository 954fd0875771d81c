"""Knowledge distillation: teacher checks, the KD loss, and a student trained from a tiny teacher run."""
from __future__ import annotations

import json

import pytest
import torch
import torch.nn.functional as F
from pydantic import ValidationError

import ecomtune
from ecomtune.errors import RecipeError, RunDirError
from ecomtune.methods.distill import kd_loss
from ecomtune.recipes.schema import Recipe
from tests.conftest import classify_recipe, toy_reviews


@pytest.fixture(scope="module")
def teacher(tmp_path_factory, tiny_encoder):
    """A finished tiny teacher run (2 layers) on the toy reviews."""
    tmp = tmp_path_factory.mktemp("teacher")
    data = tmp / "reviews.csv"
    toy_reviews().to_csv(data, index=False)
    raw = classify_recipe(data, tiny_encoder, tmp, epochs=6)
    raw["evaluation"]["baseline"] = False
    return ecomtune.train(raw), data


def _student(teacher, tiny_encoder, tmp_path, **distill) -> dict:
    run, data = teacher
    raw = classify_recipe(data, tiny_encoder, tmp_path, epochs=6)
    raw["name"] = "student"
    raw["model"]["keep_layers"] = 1
    raw["evaluation"]["baseline"] = False
    raw["training"]["distill"] = {"teacher": str(run), "temperature": 2.0, "alpha": 0.7, **distill}
    return raw


def test_kd_loss_matches_the_formula_and_skips_unlabeled_rows():
    torch.manual_seed(0)
    logits = (torch.randn(4, 3),)
    soft = torch.softmax(torch.randn(4, 3) / 2, dim=-1)
    labels = torch.tensor([[0], [2], [-100], [-100]])
    loss = kd_loss(logits, soft, labels, temperature=2.0, alpha=0.3)
    kl = F.kl_div((logits[0] / 2).log_softmax(-1), soft, reduction="batchmean")
    ce = F.cross_entropy(logits[0][:2], labels[:2, 0], reduction="sum") / 4
    assert loss.item() == pytest.approx(0.3 * 4 * kl.item() + 0.7 * ce.item(), rel=1e-5)
    # a student that already matches the teacher has no soft loss left
    assert kd_loss(logits, torch.softmax(logits[0] / 2, -1), labels, 2.0, 1.0).item() == pytest.approx(0, abs=1e-6)


class _Linear(torch.nn.Module):
    """Stands in for TextClassifier: logits from a linear layer, the recipe loss through `loss_fn`."""

    def __init__(self, loss_fn=None):
        super().__init__()
        self.lin = torch.nn.Linear(4, 3)
        self.loss_fn, self.label_smoothing = loss_fn, 0.0

    def forward(self, input_ids, attention_mask, labels=None):
        logits = (self.lin(input_ids.float()),)
        out = {"logits": logits}
        if labels is not None:
            out["loss"] = self.loss_fn(logits, labels)
        return out


def test_distill_loss_uses_the_recipe_loss_on_labelled_rows_only():
    from ecomtune.methods.distill import distill_loss
    from ecomtune.recipes.schema import DistillConfig

    torch.manual_seed(0)
    calls = []

    def loss_fn(logits, labels):  # e.g. focal loss / class weights from `training.loss`
        calls.append(labels.clone())
        return F.cross_entropy(logits[0], labels[:, 0]) * 2

    model = _Linear(loss_fn)
    soft = torch.softmax(torch.randn(4, 3), -1)
    inputs = {"input_ids": torch.randn(4, 4), "attention_mask": torch.ones(4, 4), "soft": soft,
              "labels": torch.tensor([[1], [-100], [2], [-100]])}
    config = DistillConfig(teacher="t", temperature=1.0, alpha=0.25)
    loss, out = distill_loss(model, inputs, config)
    assert calls[0].tolist() == [[1], [2]] and "soft" in inputs  # the batch itself is left intact
    logits = out["logits"][0]
    hard = F.cross_entropy(logits[[0, 2]], torch.tensor([1, 2])) * 2 * 2 / 4
    kl = F.kl_div(logits.log_softmax(-1), soft, reduction="batchmean")
    assert loss.item() == pytest.approx(0.25 * kl.item() + 0.75 * hard.item(), rel=1e-5)


def test_student_learns_from_teacher_and_records_retention_and_speedup(teacher, tiny_encoder, tmp_path):
    extra = toy_reviews(160, seed=7)[["review"]].rename(columns={"review": "text"})
    extra.to_csv(tmp_path / "unlabeled.csv", index=False)
    raw = _student(teacher, tiny_encoder, tmp_path, unlabeled=str(tmp_path / "unlabeled.csv"),
                   unlabeled_column="text", max_unlabeled_rows=100)
    run = ecomtune.train(raw)
    manifest = json.loads((run / "manifest.json").read_text())
    d = manifest["distill"]
    assert d["teacher"]["name"] == "toy" and d["teacher"]["run_dir"] == str(teacher[0])
    assert d["rows"]["labeled"] == manifest["data"]["rows"]["train"]
    assert 0 < d["rows"]["unlabeled"] <= 100
    student_acc = manifest["metrics"]["test"]["accuracy"]
    assert student_acc >= 0.8, manifest["metrics"]["test"]
    assert d["student_test"]["accuracy"] == pytest.approx(student_acc, abs=1e-4)
    assert d["retention"]["accuracy"] == pytest.approx(student_acc / d["teacher"]["test"]["accuracy"], abs=1e-3)
    assert d["teacher"]["inference_samples_per_second"] > 0 and d["speedup"] > 0
    assert d["speedup"] == pytest.approx(manifest["cost"]["inference_samples_per_second"]
                                         / d["teacher"]["inference_samples_per_second"], rel=0.01)
    assert d["teacher"]["recorded_test"]["accuracy"] > 0.5
    assert manifest["cost"]["total_params"] < d["teacher"]["total_params"]  # 1 layer instead of 2
    assert "## Distillation" in (run / "README.md").read_text()
    assert "retained" in (run / "report.html").read_text()
    assert ecomtune.predict(run, "the dress is great and comfortable")["label"] in ("positive", "negative")


def test_mismatched_label_space_is_an_error_listing_the_differences(teacher, tiny_encoder, tmp_path):
    raw = _student(teacher, tiny_encoder, tmp_path)
    raw["data"]["label_map"] = {"1": "bad", "5": "positive"}
    with pytest.raises(RecipeError, match=r"only the teacher knows: \['negative'\].*only the student has: \['bad'\]"):
        ecomtune.train(raw)


def test_teacher_checks_come_first(teacher, tiny_encoder, tmp_path):
    raw = _student(teacher, tiny_encoder, tmp_path)
    raw["training"]["distill"]["teacher"] = str(tmp_path / "nope")
    with pytest.raises(RunDirError, match="does not exist"):
        ecomtune.train(raw)
    assert not (tmp_path / "run").exists()  # refused before the run directory was made
    raw = _student(teacher, tiny_encoder, tmp_path)
    raw["task"], raw["data"]["label_columns"] = "multitask", ["stars", "sku"]
    del raw["data"]["label_column"]
    with pytest.raises(RecipeError, match="trained for `task: classify`"):
        ecomtune.train(raw)


def test_recipe_refuses_unlabeled_rows_that_nothing_learns_from(teacher, tiny_encoder, tmp_path):
    raw = _student(teacher, tiny_encoder, tmp_path, alpha=0.0, unlabeled="u.csv")
    with pytest.raises(ValidationError, match="alpha: 0"):
        Recipe.model_validate(raw)
    raw = _student(teacher, tiny_encoder, tmp_path, max_unlabeled_rows=10)
    with pytest.raises(ValidationError, match="describe `distill.unlabeled`"):
        Recipe.model_validate(raw)
