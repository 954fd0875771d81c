"""Runtimes: how the network inside a run directory is executed.

A plain run runs in PyTorch (`torch`); `ecomtune compress` writes run directories that run as dynamic-int8
PyTorch (`torch-int8`) or through ONNX Runtime (`onnx`). The manifest's `runtime.name` says which, so
`ecomtune.load`, `predict`, `evaluate` and `serve` open every kind of run directory the same way.

Every runtime maps (input_ids, attention_mask) -> a tuple of logits tensors, one per label level.
"""
from __future__ import annotations

from pathlib import Path

import torch

from ecomtune.errors import EcomtuneError, RunDirError
from ecomtune.registry import Registry
from ecomtune.tasks.text.runtimes import int8, onnx
from ecomtune.tasks.text.runtimes import torch as torch_runtime

RUNTIMES: Registry = Registry("runtime")
RUNTIMES.register("torch", torch_runtime.load)
RUNTIMES.register("torch-int8", int8.load)
RUNTIMES.register("onnx", onnx.load)


def runtime_name(manifest: dict) -> str:
    return (manifest.get("runtime") or {}).get("name", "torch")


def load_runtime(run_dir: Path, manifest: dict, device: torch.device, precision: str):
    """The runtime of a run directory, ready to call."""
    try:
        load = RUNTIMES.get(runtime_name(manifest))
    except EcomtuneError as exc:
        raise RunDirError(f"{Path(run_dir) / 'manifest.json'}: {exc} — upgrade ecomtune, or the manifest is "
                          "damaged") from None
    return load(Path(run_dir), manifest, device, precision)
