"""Named pretrained backbones, resolved to local dirs that `transformers` loads offline.

    >>> from ecomtune.backbones import resolve_backbone
    >>> rb = resolve_backbone("minilm")   # or "gemma3-270m", a local model dir, or a hub id
    >>> AutoModel.from_pretrained(rb.path)
"""
from ecomtune.backbones.registry import (
    BACKBONES,
    ResolvedBackbone,
    cache_dir,
    kind_from_config,
    list_backbones,
    resolve_backbone,
)
from ecomtune.backbones.spec import BackboneSpec

# isort: off
from ecomtune.backbones import minilm, gemma, llms  # noqa: F401  (register the packaged backbones, in this order)
# isort: on

__all__ = [
    "BACKBONES",
    "BackboneSpec",
    "ResolvedBackbone",
    "cache_dir",
    "kind_from_config",
    "list_backbones",
    "resolve_backbone",
]
