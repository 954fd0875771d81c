"""`model.keep_layers`: the backbone keeps its bottom N layers, its config says so, and it round-trips."""
from __future__ import annotations

import json

import pytest
import torch
from transformers import AutoModel

import ecomtune
from ecomtune.errors import RecipeError
from ecomtune.methods.layers import layer_stack
from ecomtune.methods.truncate import check_keep_layers, truncate_layers
from tests.conftest import classify_recipe


def test_gemma_truncation_cuts_layer_types_and_round_trips(tiny_decoder, tmp_path):
    full = AutoModel.from_pretrained(tiny_decoder).eval()
    full.config.layer_types = ["sliding_attention", "full_attention"]  # one of each, to see which one stays
    ids = torch.tensor([[5, 6, 7, 8, 9]])
    model = AutoModel.from_pretrained(tiny_decoder).eval()
    model.config.layer_types = ["sliding_attention", "full_attention"]
    info = truncate_layers(model, 1)
    assert info == {"layers_before": 2, "layers_after": 1}
    assert len(layer_stack(model)) == 1
    assert model.config.num_hidden_layers == 1 and model.config.layer_types == ["sliding_attention"]
    # the kept layer is the bottom one, unchanged
    assert torch.equal(layer_stack(model)[0].mlp.up_proj.weight, layer_stack(full)[0].mlp.up_proj.weight)
    with torch.no_grad():
        before = model(input_ids=ids).last_hidden_state
    model.save_pretrained(tmp_path / "cut")
    saved = json.loads((tmp_path / "cut" / "config.json").read_text())
    assert saved["num_hidden_layers"] == 1 and saved["layer_types"] == ["sliding_attention"]
    reloaded = AutoModel.from_pretrained(tmp_path / "cut").eval()
    assert len(layer_stack(reloaded)) == 1
    with torch.no_grad():
        assert torch.allclose(reloaded(input_ids=ids).last_hidden_state, before, atol=1e-5)


def test_more_layers_than_exist_is_an_error_naming_the_count(tiny_encoder, tiny_decoder):
    with pytest.raises(RecipeError, match="has 2 layers"):
        check_keep_layers(tiny_decoder, 3)  # up front, from the config alone
    with pytest.raises(RecipeError, match="has 2 layers"):
        truncate_layers(AutoModel.from_pretrained(tiny_encoder), 5)
    check_keep_layers(tiny_encoder, 2)  # keeping all of them is fine


def test_keep_layers_recipe_trains_saves_and_loads(reviews_csv, tiny_encoder, tmp_path):
    raw = classify_recipe(reviews_csv, tiny_encoder, tmp_path, epochs=4)
    raw["model"]["keep_layers"] = 1
    raw["evaluation"]["baseline"] = False
    run = ecomtune.train(raw)
    manifest = json.loads((run / "manifest.json").read_text())
    assert json.loads((run / "model" / "config.json").read_text())["num_hidden_layers"] == 1
    model = ecomtune.load(run)
    assert len(layer_stack(model.model.backbone)) == 1
    assert manifest["metrics"]["test"]["accuracy"] >= 0.8
    assert ecomtune.evaluate(run)["accuracy"] == pytest.approx(manifest["metrics"]["test"]["accuracy"])


def test_keep_layers_above_the_count_fails_before_training(reviews_csv, tiny_encoder, tmp_path):
    raw = classify_recipe(reviews_csv, tiny_encoder, tmp_path)
    raw["model"]["keep_layers"] = 7
    with pytest.raises(RecipeError, match="`model.keep_layers` is 7 but the backbone has 2 layers"):
        ecomtune.train(raw)
