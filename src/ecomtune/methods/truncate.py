"""Layer truncation: keep only the bottom N transformer layers of a backbone (a smaller, faster model).

The lower layers of a pretrained model carry most of its general language knowledge, and the tokenizer and the
embeddings stay as they are, so a truncated multilingual backbone still reads every language it read before; it is
the natural student for distillation. The config is cut to match (`num_hidden_layers` and every per-layer list such
as Gemma 3's `layer_types`), so `save_pretrained` / `from_pretrained` round-trip the smaller model.
"""
from __future__ import annotations

from torch import nn

from ecomtune.errors import RecipeError
from ecomtune.methods.layers import layer_stack

LAYER_COUNT_KEYS = ("num_hidden_layers", "n_layer", "num_layers", "n_layers")


def _layer_count_key(config) -> str | None:
    return next((k for k in LAYER_COUNT_KEYS if isinstance(getattr(config, k, None), int)), None)


def _cut_config(config, n_before: int, indices: list[int]) -> list[str]:
    """Keep the settings of the layers at `indices` in one config, in place; returns the keys changed."""
    changed = []
    position = {old: new for new, old in enumerate(indices)}
    key = _layer_count_key(config)
    if key is not None and getattr(config, key) == n_before:
        setattr(config, key, len(indices))
        changed.append(key)
    for name, value in list(vars(config).items()):
        # per-layer settings: a list with one entry per layer (`layer_types`, `mlp_only_layers` aside: those
        # hold layer indices, handled below)
        if isinstance(value, (list, tuple)) and len(value) == n_before and name != "architectures":
            setattr(config, name, type(value)(value[i] for i in indices))
            changed.append(name)
        elif name in ("mlp_only_layers", "full_attention_layers", "no_rope_layers_idx") and isinstance(value, list):
            setattr(config, name, [position[i] for i in value if isinstance(i, int) and i in position])
            changed.append(name)
        elif name == "max_window_layers" and isinstance(value, int):
            setattr(config, name, sum(1 for i in indices if i < value))
            changed.append(name)
    return changed


def remap_layer_config(backbone: nn.Module, n_before: int, indices: list[int]) -> list[str]:
    """Cut the backbone's config(s) to the layers at `indices`; an error if no layer count is found."""
    configs = [backbone.config]
    text = backbone.config.get_text_config() if hasattr(backbone.config, "get_text_config") else None
    if text is not None and text is not backbone.config:
        configs.append(text)
    changed = [key for config in configs for key in _cut_config(config, n_before, list(indices))]
    if not changed:
        raise RecipeError(f"cannot find the layer count in the config of {type(backbone).__name__} — this backbone "
                          "cannot drop layers")
    return changed


def check_keep_layers(path: str, keep: int) -> None:
    """Up-front check from the config alone (before the weights load): `keep` must not exceed the layer count."""
    from transformers import AutoConfig

    config = AutoConfig.from_pretrained(path)
    config = config.get_text_config() if hasattr(config, "get_text_config") else config
    key = _layer_count_key(config)
    if key is not None and keep > getattr(config, key):
        n = getattr(config, key)
        raise RecipeError(f"`model.keep_layers` is {keep} but the backbone has {n} layers — set it between 1 and {n}")


def truncate_layers(backbone: nn.Module, keep: int) -> dict:
    """Drop every transformer layer above the bottom `keep`, in place; returns {"layers_before", "layers_after"}.

    Asking for more layers than the backbone has is an error naming the count, not a silent clamp.
    """
    layers = layer_stack(backbone)
    n = len(layers)
    if keep > n:
        raise RecipeError(f"`model.keep_layers` is {keep} but the backbone has {n} layers — set it between 1 and {n}")
    if keep == n:
        return {"layers_before": n, "layers_after": n}
    del layers[keep:]
    remap_layer_config(backbone, n, list(range(keep)))
    return {"layers_before": n, "layers_after": keep}
