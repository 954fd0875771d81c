"""FGM and PGD on tiny models: the gradient they add, exact restoration of the embeddings, training end to end."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from contextlib import nullcontext
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
from safetensors.torch import load_file
from torch import nn
from transformers import AutoModel, AutoTokenizer

import ecomtune
from ecomtune.errors import RecipeError
from ecomtune.methods.adversarial import ADVERSARIES, input_embedding, make_adversary
from ecomtune.methods.pgd import project
from ecomtune.recipes.schema import AdversarialConfig
from ecomtune.tasks.text.network import TextClassifier
from tests.conftest import classify_recipe

TEXTS = ["the dress is great and comfortable", "awful cheap broken shirt", "衣服很差，退货", "this color is perfect"]


class FakeTrainer:
    """The few Trainer members an adversary uses, with plain autograd."""

    current_gradient_accumulation_steps = 1
    loss_is_scaled_for_ga = True
    accelerator = SimpleNamespace(backward=lambda loss: loss.backward())

    def _prepare_inputs(self, inputs):
        return inputs

    def compute_loss_context_manager(self):
        return nullcontext()

    def compute_loss(self, model, inputs, num_items_in_batch=None):
        return model(**inputs)["loss"]


def clean_step(model, inputs, num_items_in_batch=None):
    loss = model(**inputs)["loss"]
    loss.backward()
    return loss.detach()


def build(path: str, freeze: bool = False):
    tok = AutoTokenizer.from_pretrained(path)
    torch.manual_seed(0)  # the same head every time
    model = TextClassifier(AutoModel.from_pretrained(path), [2], pooling="mean", dropout=0.0).eval()
    if freeze:
        model.backbone.get_input_embeddings().weight.requires_grad_(False)
    enc = tok(TEXTS, padding=True, return_tensors="pt")
    inputs = {"input_ids": enc["input_ids"], "attention_mask": enc["attention_mask"],
              "labels": torch.tensor([[1], [0], [0], [1]])}
    return model, inputs


def grads(model) -> dict[str, torch.Tensor]:
    return {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}


def params(model) -> dict[str, torch.Tensor]:
    return {n: p.detach().clone() for n, p in model.named_parameters()}


@pytest.fixture(params=["tiny_encoder", "tiny_decoder"])
def backbone(request):
    return request.getfixturevalue(request.param)


@pytest.mark.parametrize("freeze", [False, True], ids=["weights", "frozen-output"])
@pytest.mark.parametrize("config", [AdversarialConfig(method="fgm", epsilon=0.05),
                                    AdversarialConfig(method="pgd", epsilon=0.05, steps=3, alpha=0.02)],
                         ids=["fgm", "pgd"])
def test_step_restores_weights_exactly_and_adds_an_ascent_gradient(backbone, config, freeze):
    model, inputs = build(backbone, freeze)
    before = params(model)
    model.zero_grad()
    clean = clean_step(model, inputs)
    clean_grads = grads(model)
    model.zero_grad()

    adversary = make_adversary(config, model)
    loss = adversary.step(FakeTrainer(), model, inputs, None, clean_step)
    assert torch.equal(loss, clean)
    after = params(model)
    assert all(torch.equal(before[n], after[n]) for n in before), "a perturbation was left in the weights"
    assert not model.backbone.get_input_embeddings()._forward_hooks, "the output hook was left attached"

    adv_loss = adversary.pop_logs()["adv_loss"]
    assert adv_loss > float(clean), (adv_loss, float(clean))  # a step *up* the loss, not down
    assert adversary.pop_logs() == {}
    total = grads(model)
    assert set(total) == set(clean_grads)
    head = "heads.0.weight"
    assert not torch.allclose(total[head], clean_grads[head])
    # for a small epsilon the adversarial pass adds a gradient close to the clean one: total ~ 2x clean
    added = (total[head] - clean_grads[head]).flatten()
    assert torch.cosine_similarity(added, clean_grads[head].flatten(), dim=0) > 0.7
    assert 0.5 < added.norm() / clean_grads[head].norm() < 2


@pytest.mark.parametrize("method", ["lora", "prompt"])
def test_step_through_a_peft_adapter(backbone, method):
    from ecomtune.methods.adapters import apply_adapter
    from ecomtune.recipes.schema import AdapterConfig

    model, inputs = build(backbone)
    model.backbone = apply_adapter(model.backbone, AdapterConfig(method=method, virtual_tokens=4), backbone)
    before = params(model)
    model.zero_grad()
    adversary = make_adversary(AdversarialConfig(method="pgd", epsilon=0.05, steps=2, alpha=0.03), model)
    clean = adversary.step(FakeTrainer(), model, inputs, None, clean_step)
    after = params(model)
    assert all(torch.equal(before[n], after[n]) for n in before)
    assert adversary.pop_logs()["adv_loss"] > float(clean)  # frozen base embeddings: the output was perturbed


def test_fgm_matches_a_hand_computed_perturbation(tiny_encoder):
    model, inputs = build(tiny_encoder)
    emb = model.backbone.get_input_embeddings().weight
    eps = 0.5
    model.zero_grad()
    clean_step(model, inputs)
    rows = torch.unique(inputs["input_ids"])
    g = emb.grad[rows]
    with torch.no_grad():
        emb[rows] += eps * g / g.norm()
    model(**inputs)["loss"].backward()  # accumulates onto the clean gradient, as FGM does
    expected = grads(model)
    with torch.no_grad():
        emb[rows] -= eps * g / g.norm()

    model2, _ = build(tiny_encoder)
    model2.zero_grad()
    make_adversary(AdversarialConfig(method="fgm", epsilon=eps), model2).step(
        FakeTrainer(), model2, inputs, None, clean_step)
    got = grads(model2)
    for name in expected:
        assert torch.allclose(got[name], expected[name], atol=1e-6), name


def test_pgd_stays_inside_the_epsilon_ball():
    delta = torch.full((3, 4), 10.0)
    assert torch.linalg.vector_norm(project(delta, 1.5)) == pytest.approx(1.5)
    small = torch.full((3, 4), 0.01)
    assert torch.equal(project(small, 1.5), small)


def test_registry_and_missing_embeddings():
    assert set(ADVERSARIES.names()) >= {"fgm", "pgd"}
    assert make_adversary(None, nn.Linear(2, 2)) is None
    with pytest.raises(RecipeError, match="`training.adversarial` perturbs the token embeddings"):
        input_embedding(nn.Linear(2, 2))


def test_fgm_trains_the_encoder_and_reports_noisy_accuracy(reviews_csv, tiny_encoder, tmp_path):
    raw = classify_recipe(reviews_csv, tiny_encoder, tmp_path, epochs=6,
                          adversarial={"method": "fgm", "epsilon": 0.1})
    raw["evaluation"] = {"baseline": False, "noise": {"rate": 0.1, "seed": 3}}
    run = ecomtune.train(raw)
    manifest = json.loads((run / "manifest.json").read_text())
    metrics = manifest["metrics"]
    assert metrics["test"]["accuracy"] >= 0.85, metrics["test"]
    noisy = metrics["test_noisy"]
    assert 0 <= noisy["accuracy"] <= 1 and noisy["noise"] == {"rate": 0.1, "seed": 3,
                                                                "texts_changed": noisy["noise"]["texts_changed"]}
    assert noisy["noise"]["texts_changed"] > 0.5
    assert any("adv_loss" in h for h in manifest["history"])
    assert "char noise" in (run / "report.html").read_text(encoding="utf-8")
    assert "With 10% character noise" in (run / "README.md").read_text(encoding="utf-8")

    # the same noise from the API and the CLI (deterministic: same seed, same texts, same metrics)
    again = ecomtune.evaluate(run, noise=0.1, noise_seed=3)
    assert again["accuracy"] == pytest.approx(noisy["accuracy"])
    out = tmp_path / "noisy.json"
    env = {**os.environ, "ECOMTUNE_QUIET": "1", "COLUMNS": "200"}
    proc = subprocess.run([sys.executable, "-m", "ecomtune", "evaluate", str(run), "--noise", "0.1",
                           "--noise-seed", "3", "--json", str(out)], capture_output=True, text=True, env=env)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(out.read_text())["accuracy"] == pytest.approx(noisy["accuracy"])


def test_pgd_trains_the_decoder_with_frozen_embeddings(reviews_csv, tiny_decoder, tmp_path):
    raw = classify_recipe(reviews_csv, tiny_decoder, tmp_path, epochs=3, freeze_embeddings=True,
                          adversarial={"method": "pgd", "epsilon": 0.5, "steps": 2, "alpha": 0.3})
    raw["evaluation"] = {"baseline": False}
    run = ecomtune.train(raw)
    manifest = json.loads((run / "manifest.json").read_text())
    assert "test_noisy" not in manifest["metrics"]
    train_logs = [h for h in manifest["history"] if "adv_loss" in h]
    assert train_logs and train_logs[-1]["loss"] < train_logs[0]["loss"], train_logs
    # frozen embeddings: PGD perturbed their output through a hook, the weights are the pretrained ones
    name = "embed_tokens.weight"
    trained = load_file(str(run / "model" / "model.safetensors"))
    original = load_file(str(next(Path(tiny_decoder).glob("*.safetensors"))))
    original = {k.removeprefix("model."): v for k, v in original.items()}
    assert torch.equal(trained[name], original[name])
