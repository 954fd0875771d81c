"""IA3: learned per-channel scaling of keys, values and the feed-forward input — the fewest trainable parameters."""
from __future__ import annotations

from ecomtune.errors import RecipeError
from ecomtune.methods.adapters.registry import ADAPTERS, AdapterMethod
from ecomtune.methods.adapters.targets import (
    block_linear_paths,
    block_linears,
    check_layers,
    check_targets,
)


def _defaults(backbone) -> tuple[list[str], list[str]]:
    from peft.utils.constants import (
        TRANSFORMERS_MODELS_TO_IA3_FEEDFORWARD_MODULES_MAPPING as FEEDFORWARD,
    )
    from peft.utils.constants import (
        TRANSFORMERS_MODELS_TO_IA3_TARGET_MODULES_MAPPING as TARGETS,
    )

    model_type = backbone.config.model_type
    if model_type not in TARGETS:
        raise RecipeError(f"IA3 has no default modules for `{model_type}` models — set "
                          "`model.adapter.target_modules` (attention key/value and the feed-forward output), "
                          f"from: {', '.join(block_linears(backbone))}")
    return list(TARGETS[model_type]), list(FEEDFORWARD.get(model_type, []))


def config(cfg, backbone, tokenizer_path):
    from peft import IA3Config

    if cfg.target_modules:
        targets = check_targets(backbone, cfg.target_modules, cfg.method)
        # Feed-forward modules are scaled at their input; guess them from the usual MLP output names.
        feedforward = [t for t in targets if t.split(".")[-1] in ("down_proj", "fc2", "c_proj") or t == "output.dense"]
    else:
        targets, feedforward = _defaults(backbone)
    if cfg.layers is not None:  # IA3Config has no layers_to_transform: name the modules of those layers exactly
        paths = block_linear_paths(backbone, check_layers(backbone, cfg.layers))
        targets = [p for p in paths if any(p.endswith("." + t) for t in targets)]
        feedforward = [p for p in targets if any(p.endswith("." + f) for f in feedforward)]
    return IA3Config(target_modules=targets, feedforward_modules=feedforward)


ADAPTERS.register("ia3", AdapterMethod(config, mergeable=True,
                                       description="learned rescaling of keys, values and FFN (Liu et al. 2022)"))
