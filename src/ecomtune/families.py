"""Task families: which recipe schema, training script and loader each `task:` uses.

Text classification (`classify`, `taxonomy`, `multitask`) shares one schema and one training script; retrieval
tasks (`recommend`, `search`) have their own. Entries are `module:attribute` strings imported on first use, so
`ecomtune --help` never imports torch, and a family's heavy code loads only when a recipe or run needs it.
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass

from ecomtune.registry import Registry


@dataclass(frozen=True)
class Family:
    """Where one task family's pieces live (each a `module:attribute` import string)."""

    recipe: str  # the pydantic recipe class
    train: str  # (recipe, resume) -> run directory
    load: str  # (run_dir, device) -> a loaded model with the family's verbs
    evaluate: str  # (run_dir, data, device) -> metrics dict
    check: str  # (recipe) -> data summary for `ecomtune data check` (validates everything that precedes training)


FAMILIES: Registry[Family] = Registry("task")
_TEXT = Family(recipe="ecomtune.recipes.schema:Recipe", train="ecomtune.training.run:train",
               load="ecomtune.inference:ExpertModel.load", evaluate="ecomtune.api:evaluate_classifier",
               check="ecomtune.data.prepare:check")
for _task in ("classify", "taxonomy", "multitask"):
    FAMILIES.register(_task, _TEXT)
FAMILIES.register("recommend", Family(recipe="ecomtune.tasks.recommend.recipe:RecommendRecipe",
                                      train="ecomtune.tasks.recommend.train:train",
                                      load="ecomtune.tasks.recommend.predict:Recommender.load",
                                      evaluate="ecomtune.tasks.recommend.train:evaluate_run",
                                      check="ecomtune.tasks.recommend.data:check"))
FAMILIES.register("search", Family(recipe="ecomtune.tasks.search.recipe:SearchRecipe",
                                   train="ecomtune.tasks.search.train:train",
                                   load="ecomtune.tasks.search.predict:SearchEngine.load",
                                   evaluate="ecomtune.tasks.search.train:evaluate_run",
                                   check="ecomtune.tasks.search.data:check"))


def _resolve(path: str):
    module, _, attr = path.partition(":")
    obj = importlib.import_module(module)
    for part in attr.split("."):
        obj = getattr(obj, part)
    return obj


def family_part(task: str, part: str):
    """The `part` ("recipe", "train", "load", "evaluate", "check") of `task`'s family; unknown tasks list the known
    ones."""
    return _resolve(getattr(FAMILIES.get(task), part))


def text_task(task: str) -> bool:
    return FAMILIES.get(task) is _TEXT
