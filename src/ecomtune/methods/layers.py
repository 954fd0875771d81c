"""Find the parts of any Hugging Face backbone that the methods act on: embeddings and the layer stack."""
from __future__ import annotations

from torch import nn

from ecomtune.errors import RecipeError


def layer_stack(backbone: nn.Module) -> nn.ModuleList:
    """The transformer blocks, bottom first (BERT `encoder.layer`, Llama/Gemma `layers`, ...); a backbone that
    knows its own blocks says so with `layer_groups()` (the image backbones: CNN blocks, ViT layers)."""
    if hasattr(backbone, "layer_groups"):
        return backbone.layer_groups()
    best = None
    for name, module in backbone.named_modules():
        if isinstance(module, nn.ModuleList) and name.split(".")[-1] in ("layer", "layers", "h", "block", "blocks"):
            if best is None or len(module) > len(best):
                best = module
    if best is None:
        raise RecipeError(f"cannot find the transformer layers of {type(backbone).__name__} — layer freezing, "
                          "gradual unfreezing and layer-wise LR decay need them; remove those options")
    return best


def embeddings(backbone: nn.Module) -> nn.Module:
    """The input embedding block (token + position + type embeddings where the model has them)."""
    return getattr(backbone, "embeddings", None) or backbone.get_input_embeddings()


def set_trainable(module: nn.Module, trainable: bool) -> None:
    for p in module.parameters():
        p.requires_grad_(trainable)
