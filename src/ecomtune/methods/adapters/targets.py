"""Which modules an adapter wraps: per-backbone defaults, and patterns that match nothing are an error."""
from __future__ import annotations

import difflib
import re

from torch import nn

from ecomtune.errors import RecipeError
from ecomtune.methods.layers import layer_stack


def block_linears(backbone: nn.Module) -> list[str]:
    """Short names of the linear layers inside the transformer blocks, e.g. q_proj ... down_proj, in model order."""
    names: dict[str, None] = {}
    for name, module in layer_stack(backbone).named_modules():
        if isinstance(module, nn.Linear):
            names[name.split(".")[-1]] = None
    return list(names)


def block_linear_paths(backbone: nn.Module, layers: list[int] | None = None) -> list[str]:
    """Full names of the linear layers inside the transformer blocks (optionally only blocks `layers`).

    Exact names, not short ones: `dense` would also catch BERT's pooler, which the classifier never uses.
    """
    stack = layer_stack(backbone)
    prefix = next(name for name, module in backbone.named_modules() if module is stack)
    keep = set(range(len(stack))) if layers is None else set(layers)
    return [f"{prefix}.{i}.{name}" for i, block in enumerate(stack) if i in keep
            for name, module in block.named_modules() if isinstance(module, nn.Linear)]


def module_names(backbone: nn.Module) -> list[str]:
    """Every distinct module short name and dotted suffix a pattern could refer to (for error messages)."""
    return sorted({name.split(".")[-1] for name, _ in backbone.named_modules() if name})


def _matches(pattern: str, full_names: list[str]) -> bool:
    # peft's rule for a list entry: the full module name equals it or ends with "." + it; we also accept a regex.
    if any(n == pattern or n.endswith("." + pattern) for n in full_names):
        return True
    try:
        return any(re.fullmatch(pattern, n) for n in full_names)
    except re.error:
        return False


def check_targets(backbone: nn.Module, targets: list[str], method: str) -> list[str]:
    """Every pattern must match at least one module; the error lists what exists and the closest name."""
    full = [name for name, _ in backbone.named_modules() if name]
    for pattern in targets:
        if not _matches(pattern, full):
            known = module_names(backbone)
            close = difflib.get_close_matches(pattern, known, n=1)
            hint = f" (did you mean `{close[0]}`?)" if close else ""
            raise RecipeError(
                f"`model.adapter.target_modules`: `{pattern}` matches no module of the backbone{hint} — "
                f"{method} can wrap the linear layers: {', '.join(block_linears(backbone))}; all module names: "
                f"{', '.join(known)}"
            )
    return targets


def check_layers(backbone: nn.Module, layers: list[int] | None) -> list[int] | None:
    if layers is None:
        return None
    n = len(layer_stack(backbone))
    bad = [i for i in layers if not 0 <= i < n]
    if bad:
        raise RecipeError(f"`model.adapter.layers`: {bad} out of range — the backbone has {n} layers, numbered "
                          f"0 (bottom) to {n - 1}")
    return layers
