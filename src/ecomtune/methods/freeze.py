"""Freezing: keep the embeddings and/or the bottom N layers at their pretrained values."""
from __future__ import annotations

from torch import nn

from ecomtune.errors import RecipeError
from ecomtune.methods.layers import embeddings, layer_stack, set_trainable


def apply_freeze(backbone: nn.Module, freeze_embeddings: bool, freeze_layers: int) -> None:
    """Freeze in place; asking for more layers than the model has is an error, not a silent clamp."""
    if freeze_embeddings:
        set_trainable(embeddings(backbone), False)
    if freeze_layers:
        layers = layer_stack(backbone)
        if freeze_layers > len(layers):
            raise RecipeError(f"`training.freeze_layers` is {freeze_layers} but the backbone has {len(layers)} "
                              f"layers — set it between 0 and {len(layers)}")
        for layer in layers[:freeze_layers]:
            set_trainable(layer, False)
