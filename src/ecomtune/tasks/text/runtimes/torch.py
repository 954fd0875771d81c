"""The PyTorch runtime: the trained `TextClassifier`, in bf16 autocast where the hardware is fast at it."""
from __future__ import annotations

from pathlib import Path

import torch

from ecomtune.tasks.text.network import TextClassifier
from ecomtune.training.device import autocast


class TorchRuntime:
    name = "torch"

    def __init__(self, model: TextClassifier, device: torch.device, precision: str):
        self.model = model.eval().to(device)
        self.device = device
        self.precision = precision

    def __call__(self, input_ids: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, ...]:
        with autocast(self.device, self.precision):
            return self.model(input_ids.to(self.device), mask.to(self.device))["logits"]


def build_network(run_dir: Path, manifest: dict) -> TextClassifier:
    """The run's backbone (adapter, pruning and truncation applied) with its trained heads, fp32 on the CPU."""
    from ecomtune.tasks.text.weights import load_backbone, load_heads

    head = manifest["head"]
    model = TextClassifier(load_backbone(run_dir, manifest), head["sizes"], pooling=head["pooling"])
    model.heads.load_state_dict({k.removeprefix("heads."): v for k, v in load_heads(run_dir).items()})
    return model


def load(run_dir: Path, manifest: dict, device: torch.device, precision: str) -> TorchRuntime:
    return TorchRuntime(build_network(run_dir, manifest), device, precision)
