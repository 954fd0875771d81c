"""Freezing, gradual unfreezing and layer-wise LR decay on a tiny BERT."""
from __future__ import annotations

from types import SimpleNamespace

import pytest
from transformers import AutoModel

from ecomtune.errors import RecipeError
from ecomtune.methods.freeze import apply_freeze
from ecomtune.methods.layers import layer_stack
from ecomtune.methods.llrd import param_groups
from ecomtune.methods.unfreeze import GradualUnfreeze
from ecomtune.tasks.text.network import TextClassifier


@pytest.fixture
def model(tiny_encoder):
    return TextClassifier(AutoModel.from_pretrained(tiny_encoder), [3])


def trainable(module) -> bool:
    return all(p.requires_grad for p in module.parameters())


def test_freeze_embeddings_and_bottom_layers(model):
    apply_freeze(model.backbone, freeze_embeddings=True, freeze_layers=1)
    layers = layer_stack(model.backbone)
    assert not any(p.requires_grad for p in model.backbone.embeddings.parameters())
    assert not trainable(layers[0]) and trainable(layers[1]) and trainable(model.heads)


def test_freezing_more_layers_than_exist_is_an_error(model):
    with pytest.raises(RecipeError, match="`training.freeze_layers` is 5 but the backbone has 2 layers"):
        apply_freeze(model.backbone, False, 5)


def test_llrd_learning_rates(model):
    groups = param_groups(model, lr=1e-4, head_lr=1e-3, weight_decay=0.01, decay=0.5)
    lr_of = {}
    for g in groups:
        for p in g["params"]:
            lr_of[id(p)] = (g["lr"], g["weight_decay"])
    layers = layer_stack(model.backbone)
    assert lr_of[id(layers[1].attention.self.query.weight)] == (1e-4, 0.01)  # top layer: full lr
    assert lr_of[id(layers[0].attention.self.query.weight)] == (5e-5, 0.01)
    assert lr_of[id(model.backbone.embeddings.word_embeddings.weight)][0] == pytest.approx(2.5e-5)
    assert lr_of[id(model.heads[0].weight)] == (1e-3, 0.01)
    assert lr_of[id(model.heads[0].bias)] == (1e-3, 0.0)  # no decay on biases
    assert len(lr_of) == sum(1 for _ in model.parameters())


def test_frozen_parameters_stay_out_of_the_optimizer(model):
    apply_freeze(model.backbone, True, 0)
    groups = param_groups(model, 1e-4, 1e-3, 0.0)
    in_opt = {id(p) for g in groups for p in g["params"]}
    assert id(model.backbone.embeddings.word_embeddings.weight) not in in_opt


def test_gradual_unfreeze_schedule(model):
    cb = GradualUnfreeze(model.backbone, epochs=3)
    layers = layer_stack(model.backbone)
    seen = []
    for epoch in range(3):
        cb.on_epoch_begin(None, SimpleNamespace(epoch=float(epoch)), None)
        seen.append([trainable(layer) for layer in layers] + [trainable(model.backbone.embeddings)])
    assert seen == [[False, False, False], [False, True, False], [True, True, True]]
