"""LoRA: a trainable low-rank update B·A beside each wrapped linear layer (default: every linear layer of the blocks)."""
from __future__ import annotations

from ecomtune.methods.adapters.registry import ADAPTERS, AdapterMethod
from ecomtune.methods.adapters.targets import (
    block_linear_paths,
    check_layers,
    check_targets,
)


def lora_kwargs(cfg, backbone) -> dict:
    """Default: every linear layer of the (chosen) transformer blocks; else the recipe's patterns, checked."""
    common = {"lora_alpha": cfg.alpha, "lora_dropout": cfg.dropout}
    if not cfg.target_modules:
        return {"target_modules": block_linear_paths(backbone, check_layers(backbone, cfg.layers)), **common}
    return {"target_modules": check_targets(backbone, cfg.target_modules, cfg.method),
            "layers_to_transform": check_layers(backbone, cfg.layers), **common}


def config(cfg, backbone, tokenizer_path):
    from peft import LoraConfig

    return LoraConfig(r=cfg.r, **lora_kwargs(cfg, backbone))


ADAPTERS.register("lora", AdapterMethod(config, mergeable=True,
                                        description="low-rank updates of every linear layer (Hu et al. 2021)"))
