"""What the text-classification tasks (`classify`, `taxonomy`, `multitask`) share: one recipe, one training script,
one predictor (`ExpertModel`), one baseline (TF-IDF + logistic regression), one evaluation. Each task's folder adds
only what differs: which columns hold its labels (`data`), how its heads decode (`model`) and its `metrics`."""
from __future__ import annotations

from ecomtune.registry import Task


def text_task(name: str, summary: str, endpoint: str) -> Task:
    """The Task of a text-classification task served at `endpoint` (`/v1/classify` or `/v1/taxonomy`)."""
    route = endpoint.rsplit("/", 1)[-1]
    return Task(name=name, summary=summary, endpoint=endpoint,
                router=f"ecomtune.deploy.serve.routers.{route}:router",
                recipe="ecomtune.recipes.schema:Recipe", check="ecomtune.tasks.text.train:check",
                train="ecomtune.tasks.text.train:train", baseline="ecomtune.tasks.text.baseline:baseline",
                load="ecomtune.tasks.text.predict:load", evaluate="ecomtune.tasks.text.evaluate:evaluate",
                verify="ecomtune.tasks.text.weights:check_text_run", distributed=True)
