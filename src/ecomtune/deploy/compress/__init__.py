"""`ecomtune compress`: a smaller or faster copy of a run directory, with a report of what it cost.

Each method is one module with its `OPTIONS`, a `check(options)` (validation before anything loads) and a
`run(network, out_model_dir, context) -> manifest updates`; adding a method = one module + one line in
`registry.py` (`COMPRESSORS`).
The copy is a complete run directory that `predict`, `evaluate` and `serve` open like any other.
"""
from __future__ import annotations

from ecomtune.deploy.compress.registry import COMPRESSORS
from ecomtune.deploy.compress.run import compress

__all__ = ["COMPRESSORS", "compress"]
