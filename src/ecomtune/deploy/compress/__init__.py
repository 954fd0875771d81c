"""`ecomtune compress`: a smaller or faster copy of a run directory, with a report of what it cost.

Each method is one module with its `OPTIONS`, a `check(options)` (validation before anything loads) and a
`run(network, out_model_dir, context) -> manifest updates`; adding a method = one module + one registry line.
The copy is a complete run directory that `predict`, `evaluate` and `serve` open like any other.
"""
from __future__ import annotations

from ecomtune.deploy.compress import onnx, prune, quantize
from ecomtune.registry import Registry

COMPRESSORS: Registry = Registry("compression method")
COMPRESSORS.register("int8", quantize)
COMPRESSORS.register("onnx", onnx.FP32)
COMPRESSORS.register("onnx-int8", onnx.INT8)
COMPRESSORS.register("prune", prune)

from ecomtune.deploy.compress.run import compress  # needs the registry above

__all__ = ["COMPRESSORS", "compress"]
