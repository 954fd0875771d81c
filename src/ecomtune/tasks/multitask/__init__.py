"""`task: multitask` — several independent labels per text, one head each, on one shared encoder."""
from ecomtune.registry import register_task
from ecomtune.tasks.text import text_task

register_task(text_task("multitask", "several independent labels per text (one head each)", "/v1/classify"))
