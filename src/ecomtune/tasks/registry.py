"""Task registry: each task folder provides its data schema, head decoding and metrics."""
from __future__ import annotations

from types import SimpleNamespace

from ecomtune.registry import Registry
from ecomtune.tasks.classify import metrics as classify_metrics
from ecomtune.tasks.classify import model as classify_model
from ecomtune.tasks.classify import schema as classify_schema
from ecomtune.tasks.multitask import metrics as multitask_metrics
from ecomtune.tasks.multitask import model as multitask_model
from ecomtune.tasks.multitask import schema as multitask_schema
from ecomtune.tasks.taxonomy import metrics as taxonomy_metrics
from ecomtune.tasks.taxonomy import model as taxonomy_model
from ecomtune.tasks.taxonomy import schema as taxonomy_schema

TASKS: Registry[SimpleNamespace] = Registry("task")
TASKS.register("classify", SimpleNamespace(schema=classify_schema, model=classify_model, metrics=classify_metrics))
TASKS.register("taxonomy", SimpleNamespace(schema=taxonomy_schema, model=taxonomy_model, metrics=taxonomy_metrics))
TASKS.register("multitask", SimpleNamespace(schema=multitask_schema, model=multitask_model,
                                            metrics=multitask_metrics))
