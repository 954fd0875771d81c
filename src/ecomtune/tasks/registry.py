"""Task registry: each task folder provides its data schema, head decoding and metrics."""
from __future__ import annotations

from types import SimpleNamespace

from ecomtune.registry import Registry
from ecomtune.tasks.classify import metrics as classify_metrics, schema as classify_schema
from ecomtune.tasks.taxonomy import metrics as taxonomy_metrics, schema as taxonomy_schema

TASKS: Registry[SimpleNamespace] = Registry("task")
TASKS.register("classify", SimpleNamespace(schema=classify_schema, metrics=classify_metrics))
TASKS.register("taxonomy", SimpleNamespace(schema=taxonomy_schema, metrics=taxonomy_metrics))
