"""`int8`: dynamic int8 quantization in PyTorch — int8 Linear weights, activations quantized per batch on the fly.

No calibration data is needed. Large embedding tables are stored as int8 too (see runtimes/int8.py).
"""
from __future__ import annotations

from pathlib import Path

from ecomtune.tasks.text.runtimes.int8 import save_int8

DESCRIPTION = "dynamic int8 quantization (PyTorch)"
OPTIONS = ("keep_fp32",)  # Linear layers (name patterns) left in fp32, e.g. gemma's `down_proj`


def check(options: dict) -> None:
    pass


def run(network, model_dir: Path, context) -> dict:
    keep = context.options.get("keep_fp32") or []
    network.backbone.config.save_pretrained(model_dir)
    save_int8(network, model_dir, keep)
    return {"runtime": {"name": "torch-int8", "keep_fp32": keep}}
