"""Parameter-efficient adapters through `peft`: one file per method, registered in `ADAPTERS`
(`registry.py`, which the method files import; this package imports them).

The backbone is wrapped in a `PeftModel` (only the adapter trains; the heads stay ours and always train). The run
directory then stores only the adapter in `model/`; `load_backbone` rebuilds base + adapter, and
`ecomtune export --merge` folds LoRA/AdaLoRA/IA3 back into plain weights.
"""
from __future__ import annotations

from pathlib import Path

from torch import nn

from ecomtune.errors import RecipeError, RunDirError
from ecomtune.methods.adapters import adalora, ia3, lora, prefix, prompt  # noqa: F401  (each registers itself)
from ecomtune.methods.adapters.registry import ADAPTERS, AdapterMethod
from ecomtune.recipes.schema import AdapterConfig


def apply_adapter(backbone: nn.Module, cfg: AdapterConfig, tokenizer_path: str | Path) -> nn.Module:
    """Wrap `backbone` in a trainable peft adapter (everything else frozen)."""
    from peft import get_peft_model

    method = ADAPTERS.get(cfg.method)
    return get_peft_model(backbone, method.config(cfg, backbone, str(tokenizer_path)))


def adapter_callbacks(cfg: AdapterConfig | None) -> list:
    method = ADAPTERS.get(cfg.method) if cfg else None
    return [method.callback()] if method and method.callback else []


def has_adapter(model_dir: str | Path) -> bool:
    return (Path(model_dir) / "adapter_config.json").exists()


def load_adapter(base: nn.Module, model_dir: str | Path) -> nn.Module:
    from peft import PeftModel

    return PeftModel.from_pretrained(base, str(model_dir), is_trainable=False)


def check_mergeable(method: str) -> None:
    if not ADAPTERS.get(method).mergeable:
        raise RunDirError(f"`{method}` adds virtual tokens in front of the input, which cannot be folded into the "
                          "weights — serve the run directory as it is (it loads base model + adapter)")


def merge_adapter(backbone: nn.Module, method: str) -> nn.Module:
    """LoRA/AdaLoRA/IA3 -> the plain backbone with the adapter folded into its weights."""
    check_mergeable(method)
    return backbone.merge_and_unload()


__all__ = ["ADAPTERS", "AdapterMethod", "RecipeError", "adapter_callbacks", "apply_adapter", "check_mergeable", "has_adapter",
           "load_adapter", "merge_adapter"]
