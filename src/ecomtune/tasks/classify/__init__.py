"""`task: classify` — one label per text (sentiment, star rating, product category)."""
from ecomtune.registry import register_task
from ecomtune.tasks.text import text_task

register_task(text_task("classify", "one label per text (sentiment, rating, category)", "/v1/classify"))
