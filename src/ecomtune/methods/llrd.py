"""Optimizer parameter groups: layer-wise learning-rate decay, a faster head, no decay on biases and norms."""
from __future__ import annotations

from torch import nn

from ecomtune.methods.layers import embeddings, layer_stack


def _no_decay(name: str) -> bool:
    return name.endswith("bias") or "norm" in name.lower()


def param_groups(model: nn.Module, lr: float, head_lr: float, weight_decay: float, decay: float = 1.0,
                 skip_frozen: bool = True) -> list[dict]:
    """Layer i of L (1 = bottom) gets lr * decay**(L - i), the embeddings lr * decay**L, the head `head_lr`.

    Parameters frozen for good are left out (`skip_frozen`), which is what saves optimizer memory when freezing.
    Gradual unfreezing passes skip_frozen=False so layers unfrozen later are already in the optimizer.
    """
    backbone = model.backbone
    scale: dict[int, float] = {}
    if decay < 1.0:
        layers = layer_stack(backbone)
        n = len(layers)
        for p in embeddings(backbone).parameters():
            scale[id(p)] = decay ** n
        for i, layer in enumerate(layers, start=1):
            for p in layer.parameters():
                scale[id(p)] = decay ** (n - i)
    head_ids = {id(p) for p in model.heads.parameters()}
    groups: dict[tuple[float, float], list] = {}
    for name, p in model.named_parameters():
        if skip_frozen and not p.requires_grad:
            continue
        group_lr = head_lr if id(p) in head_ids else lr * scale.get(id(p), 1.0)
        wd = 0.0 if _no_decay(name) else weight_decay
        groups.setdefault((group_lr, wd), []).append(p)
    return [{"params": ps, "lr": g_lr, "weight_decay": wd} for (g_lr, wd), ps in groups.items()]
