"""`task: taxonomy` — a path through a category tree (L1 > L2 > L3), always one that exists."""
from ecomtune.registry import register_task
from ecomtune.tasks.text import text_task

register_task(text_task("taxonomy", "a category path L1 > L2 > L3 (always a path of the tree)", "/v1/taxonomy"))
