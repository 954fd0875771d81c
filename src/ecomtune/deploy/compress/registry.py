"""`COMPRESSORS`: the compression methods by name (one module each; adding a method = one module + one line here)."""
from __future__ import annotations

from ecomtune.deploy.compress import onnx, prune, quantize
from ecomtune.registry import Registry

COMPRESSORS: Registry = Registry("compression method")
COMPRESSORS.register("int8", quantize)
COMPRESSORS.register("onnx", onnx.FP32)
COMPRESSORS.register("onnx-int8", onnx.INT8)
COMPRESSORS.register("prune", prune)

__all__ = ["COMPRESSORS"]
