"""Gradual unfreezing (ULMFiT): train the head first, then unfreeze the layers from the top, a group per epoch."""
from __future__ import annotations

import math

from torch import nn
from transformers import TrainerCallback

from ecomtune.methods.layers import embeddings, layer_stack, set_trainable


class GradualUnfreeze(TrainerCallback):
    """At epoch e of E, the top ceil(L * e / (E - 1)) layers train; all of them by the last epoch.

    Embeddings stay frozen unless `unfreeze_embeddings` (they are the largest block and the least task-specific).
    """

    def __init__(self, backbone: nn.Module, epochs: float, unfreeze_embeddings: bool = True):
        self.layers = layer_stack(backbone)
        self.emb = embeddings(backbone)
        self.stages = max(math.ceil(epochs), 2)
        self.unfreeze_embeddings = unfreeze_embeddings
        set_trainable(backbone, False)
        self.trainable_layers = 0

    def on_epoch_begin(self, args, state, control, **kwargs):
        epoch = int(round(state.epoch or 0))
        n = len(self.layers)
        top = min(n, math.ceil(n * epoch / (self.stages - 1)))
        for i, layer in enumerate(self.layers):
            set_trainable(layer, i >= n - top)
        if self.unfreeze_embeddings:
            set_trainable(self.emb, top == n)
        self.trainable_layers = top
