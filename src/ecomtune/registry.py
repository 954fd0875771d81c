"""Registries: a tiny name -> object map, and the one registry of tasks.

Every task lives in `ecomtune/tasks/<task>/` and registers itself in its `__init__.py` with `register_task(Task(...))`
(peft's `register_peft_method` is the model). The API, CLI, `compare`, `compress` and `serve` find a task's pieces
here and nowhere else. A Task names its pieces as `module:attribute` strings, imported on first use: `ecomtune
--help` never imports torch, and a task's heavy code loads only when a recipe or run needs it.
"""
from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Generic, TypeVar

from ecomtune.errors import EcomtuneError

T = TypeVar("T")


class Registry(Generic[T]):
    """Maps names to objects; `register` refuses a name twice, `get` lists the known names on a miss."""

    def __init__(self, kind: str):
        self.kind = kind
        self._items: dict[str, T] = {}

    def register(self, name: str, item: T | None = None):
        """Register `item` under `name`; usable as a decorator when `item` is omitted."""

        def add(obj: T) -> T:
            if name in self._items:
                raise ValueError(f"{self.kind} '{name}' is already registered")
            self._items[name] = obj
            return obj

        return add(item) if item is not None else add

    def get(self, name: str) -> T:
        try:
            return self._items[name]
        except KeyError:
            raise EcomtuneError(
                f"unknown {self.kind} '{name}' — choose one of: {', '.join(sorted(self._items))}"
            ) from None

    def __contains__(self, name: object) -> bool:
        return name in self._items

    def __iter__(self) -> Iterator[str]:
        return iter(self._items)

    def items(self):
        return self._items.items()

    def names(self) -> list[str]:
        return list(self._items)


@dataclass(frozen=True)
class Task:
    """One task: what it is and where each of its pieces lives (`module:attribute` import strings).

    Every piece up to `evaluate` is required, so a task cannot be half plugged in (the conformance test runs each
    one); `verify`, `compress` and `backbones` are optional."""

    name: str
    summary: str
    endpoint: str  # the service route that answers it, e.g. "/v1/classify" (tasks may share one)
    router: str  # the FastAPI router serving `endpoint`
    recipe: str  # the pydantic recipe class
    check: str  # (recipe) -> data summary: every check that precedes training (`ecomtune data check`)
    train: str  # (recipe, resume) -> run directory
    baseline: str  # (recipe) -> test metrics of the task's simple baseline
    load: str  # (run_dir, device) -> a predictor: `predict`, `evaluate` (+ `encode` where it has vectors)
    evaluate: str  # (run_dir, data, device) -> metrics dict
    verify: str | None = None  # (run_dir, manifest) -> None: the task's checks of a run that need no weights
    compress: str | None = None  # (run_dir, method, out, overwrite, data, rows, write_report, **options) -> the
    # compressed run dir: the task's own `ecomtune compress`; None = the text compressor (deploy.compress)
    export: str | None = None  # (run_dir, out_dir, merge, overwrite) -> the copy: the task's own `ecomtune export`;
    # None = the text classifiers' (ecomtune.standalone)
    distributed: bool = False  # its training runs in several processes (`ecomtune train --nproc N`)
    inputs: str = "texts"  # what it predicts for, in messages ("predicts 300 texts/s")
    backbones: str | None = None  # () -> rows for `ecomtune models` (the task's own named backbones), shaped
    # like `backbones.list_backbones()`; None = the task uses the shared text backbones

    def part(self, name: str):
        """Import and return one piece, e.g. `task("search").part("train")`."""
        path = getattr(self, name)
        if path is None:
            raise EcomtuneError(f"task '{self.name}' has no {name}")
        module, _, attr = path.partition(":")
        obj = importlib.import_module(module)
        for piece in filter(None, attr.split(".")):
            obj = getattr(obj, piece)
        return obj

    def module(self, name: str):
        """One of the task folder's modules (`recipe`, `data`, `model`, `metrics`, `predict`, ...); the folder is the
        task name with `-` as `_` (`image-classify` lives in `tasks/image_classify/`)."""
        return importlib.import_module(f"ecomtune.tasks.{self.name.replace('-', '_')}.{name}")


TASKS: Registry[Task] = Registry("task")
_discovered = False


def register_task(spec: Task) -> Task:
    """Called once by each `ecomtune/tasks/<task>/__init__.py`."""
    return TASKS.register(spec.name, spec)


def tasks() -> Registry[Task]:
    """The registry, after importing every package under `ecomtune.tasks` (each registers itself)."""
    global _discovered
    if not _discovered:
        _discovered = True
        package = importlib.import_module("ecomtune.tasks")
        for info in pkgutil.iter_modules(package.__path__, "ecomtune.tasks."):
            if info.ispkg:
                importlib.import_module(info.name)
    return TASKS


def task(name: str) -> Task:
    """The registered task `name`; an unknown name lists the known ones."""
    return tasks().get(name)
