"""The image classifier: a backbone's pooled features -> dropout -> one linear head per label level.

It has the text classifier's shape (`backbone`, `heads`, `loss_fn`, `label_smoothing`; forward returns
{"logits": one tensor per level, "loss"}), so the shared engine (`training.trainer.EcomTrainer`) and the methods
(freezing, layer-wise LR decay, distillation) drive it unchanged. Mixup/cutmix batches carry the partner labels
with `mix` (the recipe's `training.augment` with mixup/cutmix on), training batches are mixed here, where the
labels are: the loss is lam * loss(labels) + (1 - lam) * loss(partner labels).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ecomtune.tasks.image_classify.images import mix


class ImageClassifier(nn.Module):
    def __init__(self, backbone: nn.Module, sizes: list[int], dropout: float = 0.2, label_smoothing: float = 0.0,
                 loss_fn=None, mix=None, seed: int = 42):
        super().__init__()
        self.mix = mix
        self.generator = torch.Generator().manual_seed(seed)
        self.backbone = backbone
        self.label_smoothing = label_smoothing
        self.loss_fn = loss_fn
        self.dropout = nn.Dropout(dropout)
        self.heads = nn.ModuleList([nn.Linear(backbone.num_features, n) for n in sizes])
        self.to(memory_format=torch.channels_last)  # 2x faster convolutions on CPU (oneDNN's native layout)

    def train(self, mode: bool = True):
        """Batch-norm layers whose weights are frozen keep their pretrained statistics (a frozen block must stay
        the block it was: a linear probe or `freeze_layers` would otherwise still drift through BN)."""
        super().train(mode)
        if mode:
            for module in self.backbone.modules():
                if isinstance(module, nn.modules.batchnorm._BatchNorm) and not any(
                        p.requires_grad for p in module.parameters()):
                    module.eval()
        return self

    def state_dict(self, *args, **kwargs):
        """Contiguous tensors: the convolution weights are channels_last, and safetensors (the trainer's
        checkpoints) refuses strided tensors."""
        state = super().state_dict(*args, **kwargs)
        if kwargs.get("keep_vars"):
            return state
        for key, value in state.items():
            state[key] = value.contiguous()
        return state

    def features(self, pixel_values: torch.Tensor) -> torch.Tensor:
        return self.backbone(pixel_values)

    def _loss(self, logits: tuple[torch.Tensor, ...], labels: torch.Tensor) -> torch.Tensor:
        if self.loss_fn is not None:
            return self.loss_fn(logits, labels)
        return sum(F.cross_entropy(lg, labels[:, i], label_smoothing=self.label_smoothing)
                   for i, lg in enumerate(logits))

    def forward(self, pixel_values: torch.Tensor, labels: torch.Tensor | None = None):
        partners, lam = None, 1.0
        if self.training and self.mix is not None and labels is not None:
            pixel_values, partners, lam = mix(pixel_values, labels, self.mix, self.generator)
        pixel_values = pixel_values.contiguous(memory_format=torch.channels_last)
        pooled = self.dropout(self.features(pixel_values))
        logits = tuple(head(pooled).float() for head in self.heads)
        out = {"logits": logits}
        if labels is not None:
            loss = self._loss(logits, labels)
            if lam < 1:
                loss = lam * loss + (1 - lam) * self._loss(logits, partners)
            out["loss"] = loss
        return out
