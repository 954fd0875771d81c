"""The adapter registry: `AdapterMethod` and `ADAPTERS`, which each method file (lora, adalora, ia3, prefix,
prompt) imports to register itself. The package `__init__` re-exports both and imports the method files."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from ecomtune.registry import Registry


@dataclass
class AdapterMethod:
    """`config(cfg, backbone, tokenizer_path)` -> a peft config; `mergeable`: can fold into the base weights."""

    config: Callable
    mergeable: bool
    description: str
    callback: Callable | None = None  # () -> TrainerCallback the method needs while training (AdaLoRA)


ADAPTERS: Registry[AdapterMethod] = Registry("adapter method")

__all__ = ["ADAPTERS", "AdapterMethod"]
