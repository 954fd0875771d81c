"""Structured pruning: remove whole attention heads and/or whole layers, the least important first.

Importance is measured on labelled validation rows:
- a head's importance is |d loss / d gate| summed over the rows, where a gate of 1 multiplies the head's output
  (Michel et al., 2019, "Are Sixteen Heads Really Better than One?") — one backward pass scores every head;
- a layer's importance is how much the loss rises when the layer is skipped (its output replaced by its input).

Removing a head slices its rows out of the query/key/value projections and its columns out of the output
projection, so the model really gets smaller and faster. The kept heads per layer go in the manifest
(`backbone.pruned_heads`) so a loader can rebuild the smaller shapes before the weights load; removed layers are
cut from the config (as `keep_layers` does), so those models round-trip through `save_pretrained` as they are.
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from ecomtune.errors import RecipeError
from ecomtune.methods.layers import layer_stack
from ecomtune.methods.truncate import remap_layer_config


@dataclass
class Attention:
    """The parts of one self-attention block that head pruning touches."""

    module: nn.Module
    q: nn.Linear
    k: nn.Linear
    v: nn.Linear
    out: nn.Linear
    n_heads: int
    head_dim: int


def attention(layer: nn.Module) -> Attention:
    """BERT-style (`attention.self.{query,key,value}` + `attention.output.dense`) or Llama/Gemma-style
    (`self_attn.{q,k,v,o}_proj`) attention; heads must each have their own key/value."""
    if hasattr(layer, "attention") and hasattr(layer.attention, "self"):
        a = layer.attention.self
        parts = (a, a.query, a.key, a.value, layer.attention.output.dense, a.attention_head_size)
    elif hasattr(layer, "self_attn") and hasattr(layer.self_attn, "q_proj"):
        a = layer.self_attn
        parts = (a, a.q_proj, a.k_proj, a.v_proj, a.o_proj, a.head_dim)
        if a.k_proj.out_features != a.q_proj.out_features:
            raise RecipeError("head pruning needs one key/value per query head, and this backbone uses grouped-query "
                              "attention — prune layers instead (`--layers N`)")
    else:
        raise RecipeError(f"head pruning does not know the attention layout of {type(layer).__name__} — "
                          "prune layers instead (`--layers N`)")
    module, q, k, v, out, head_dim = parts
    return Attention(module, q, k, v, out, q.out_features // head_dim, head_dim)


def _slice_linear(linear: nn.Linear, index: torch.Tensor, dim: int) -> None:
    """Keep only `index` along the output (dim 0) or input (dim 1) features, in place."""
    linear.weight = nn.Parameter(linear.weight.data.index_select(dim, index).clone())
    if dim == 0 and linear.bias is not None:
        linear.bias = nn.Parameter(linear.bias.data.index_select(0, index).clone())
    if dim == 0:
        linear.out_features = len(index)
    else:
        linear.in_features = len(index)


def prune_heads(backbone: nn.Module, keep: dict[int, list[int]]) -> None:
    """Keep only the listed heads of each listed layer (layers not listed keep all their heads), in place."""
    layers = layer_stack(backbone)
    for layer_index, heads in keep.items():
        att = attention(layers[int(layer_index)])
        if not heads:
            raise RecipeError(f"layer {layer_index}: pruning would remove every head — keep at least one")
        if len(heads) == att.n_heads:
            continue
        index = torch.cat([torch.arange(h * att.head_dim, (h + 1) * att.head_dim) for h in sorted(heads)])
        for proj in (att.q, att.k, att.v):
            _slice_linear(proj, index, 0)
        _slice_linear(att.out, index, 1)
        for name in ("num_attention_heads", "num_heads", "num_key_value_heads"):
            if isinstance(getattr(att.module, name, None), int):
                setattr(att.module, name, len(heads))
        if hasattr(att.module, "all_head_size"):
            att.module.all_head_size = len(heads) * att.head_dim


def keep_layers(backbone: nn.Module, indices: Iterable[int]) -> None:
    """Keep only the layers at `indices` (in order), in place; the config's per-layer settings follow."""
    layers = layer_stack(backbone)
    indices = sorted(indices)
    n = len(layers)
    kept = [layers[i] for i in indices]
    layers.__init__(kept)  # nn.ModuleList re-initialised with the kept blocks
    for new, layer in enumerate(kept):  # caches and attention-type lookups index by position
        for module in layer.modules():
            if isinstance(getattr(module, "layer_idx", None), int):
                module.layer_idx = new
    remap_layer_config(backbone, n, indices)


def restore_pruned_structure(backbone: nn.Module, manifest: dict) -> None:
    """Give a freshly built backbone the pruned head shapes recorded in the manifest (before loading weights)."""
    pruned = (manifest.get("backbone") or {}).get("pruned_heads")
    if pruned:
        prune_heads(backbone, {int(k): v for k, v in pruned.items()})


def _loss(network, batches) -> float:
    total, rows = 0.0, 0
    with torch.no_grad():
        for input_ids, mask, labels in batches:
            logits = network(input_ids, mask)["logits"]
            total += sum(F.cross_entropy(lg.float(), labels[:, i], reduction="sum").item()
                         for i, lg in enumerate(logits))
            rows += len(labels)
    return total / max(rows, 1)


def head_importance(network, batches) -> torch.Tensor:
    """[layers, heads]: |d loss / d head gate| summed over the batches, normalised per layer (Michel et al.)."""
    layers = layer_stack(network.backbone)
    parts = [attention(layer) for layer in layers]
    gates = [torch.ones(p.n_heads, requires_grad=True) for p in parts]

    def gate_hook(gate, head_dim):
        def hook(module, args):
            (x,) = args[:1]
            shape = x.shape
            gated = (x.view(*shape[:-1], -1, head_dim) * gate.to(x.dtype)[:, None]).view(shape)
            return (gated, *args[1:])
        return hook

    handles = [p.out.register_forward_pre_hook(gate_hook(g, p.head_dim)) for p, g in zip(parts, gates)]
    try:
        for input_ids, mask, labels in batches:
            logits = network(input_ids, mask)["logits"]
            loss = sum(F.cross_entropy(lg.float(), labels[:, i]) for i, lg in enumerate(logits))
            loss.backward()
    finally:
        for h in handles:
            h.remove()
        network.zero_grad(set_to_none=True)
    scores = torch.stack([g.grad.abs() if g.grad is not None else torch.zeros_like(g) for g in gates])
    return scores / scores.norm(dim=1, keepdim=True).clamp(min=1e-12)


def layer_importance(network, batches) -> list[float]:
    """Per layer: loss with the layer skipped minus the full model's loss (higher = more important)."""
    base = _loss(network, batches)

    def skip(module, args, kwargs, output):
        hidden = args[0] if args else kwargs["hidden_states"]
        return (hidden, *output[1:]) if isinstance(output, tuple) else hidden

    scores = []
    for layer in layer_stack(network.backbone):
        handle = layer.register_forward_hook(skip, with_kwargs=True)
        try:
            scores.append(_loss(network, batches) - base)
        finally:
            handle.remove()
    return scores


def choose_heads(importance: torch.Tensor, fraction: float) -> dict[int, list[int]]:
    """Drop the globally least important `fraction` of heads, never the last head of a layer."""
    n_layers, n_heads = importance.shape
    drop = round(fraction * n_layers * n_heads)
    keep = {i: set(range(n_heads)) for i in range(n_layers)}
    for flat in importance.flatten().argsort().tolist():
        if drop == 0:
            break
        layer, head = divmod(flat, n_heads)
        if len(keep[layer]) > 1:
            keep[layer].discard(head)
            drop -= 1
    return {i: sorted(h) for i, h in keep.items()}


def choose_layers(importance: list[float], drop: int) -> list[int]:
    """Indices of the layers to keep after dropping the `drop` least important ones."""
    if not 0 <= drop < len(importance):
        raise RecipeError(f"`--layers` is {drop} but the backbone has {len(importance)} layers — drop between 0 and "
                          f"{len(importance) - 1}")
    dropped = set(sorted(range(len(importance)), key=lambda i: importance[i])[:drop])
    return [i for i in range(len(importance)) if i not in dropped]
