"""Search spaces: `{dotted recipe key: {type, low, high, log, step, choices}}`, defaults per task family, and
validation that runs before any trial trains.

    training.learning_rate: {type: float, low: 1.0e-5, high: 2.0e-4, log: true}
    training.batch_size: {type: categorical, choices: [8, 16, 32]}
    training.epochs: {type: int, low: 2, high: 4}

A space is checked like a recipe: every key must be a recipe key, every bound and choice must make a recipe the
recipe class accepts (it is built with low, high and each choice), and keys that would change the split, the
metric or where the run goes are refused — every trial must be judged on the same validation rows.
"""
from __future__ import annotations

import copy
import difflib
from pathlib import Path

from pydantic import BaseModel

from ecomtune.errors import RecipeError
from ecomtune.recipes.loader import _submodel, load_recipe, parse_yaml

TYPES = ("float", "int", "categorical")
_FIXED = ("name", "task", "language", "data", "output", "evaluation.metric", "training.seed", "training.device")

_TEXT = {
    "training.learning_rate": {"type": "float", "low": 1e-5, "high": 2e-4, "log": True},
    "training.batch_size": {"type": "categorical", "choices": [8, 16, 32]},
    "training.epochs": {"type": "int", "low": 2, "high": 5},
    "training.warmup": {"type": "float", "low": 0.0, "high": 0.2},
    "training.weight_decay": {"type": "float", "low": 0.0, "high": 0.1},
    "training.loss.class_weights": {"type": "categorical", "choices": ["none", "balanced"]},
}
DEFAULT_SPACES: dict[str, dict] = {
    "classify": _TEXT,
    "taxonomy": {k: v for k, v in _TEXT.items() if k != "training.loss.class_weights"},
    "multitask": {k: v for k, v in _TEXT.items() if k != "training.loss.class_weights"},
    "image-classify": {
        "training.learning_rate": {"type": "float", "low": 1e-4, "high": 3e-3, "log": True},
        "training.batch_size": {"type": "categorical", "choices": [16, 32, 64]},
        "training.epochs": {"type": "int", "low": 3, "high": 8},
        "training.weight_decay": {"type": "float", "low": 0.0, "high": 0.1},
    },
    "recommend": {
        "training.learning_rate": {"type": "float", "low": 1e-4, "high": 1e-2, "log": True},
        "training.batch_size": {"type": "categorical", "choices": [128, 256, 512]},
        "model.hidden": {"type": "categorical", "choices": [32, 64, 128]},
        "model.layers": {"type": "int", "low": 1, "high": 3},
        "model.dropout": {"type": "float", "low": 0.1, "high": 0.6},
    },
}


def check_task(task: str) -> None:
    """Only tasks that record validation metrics can be tuned (they are the ones with a default space)."""
    if task not in DEFAULT_SPACES:
        raise RecipeError(f"`task: {task}` records no validation metrics, and `tune` optimises validation scores "
                          f"(never the test split) — tune a {', '.join(DEFAULT_SPACES)} recipe")


def default_space(task: str) -> dict:
    """The task family's default space (a copy); tasks that record no validation metrics have none."""
    check_task(task)
    return copy.deepcopy(DEFAULT_SPACES[task])


def load_space(source: str | Path | dict | None, task: str) -> dict:
    """A space from a YAML file or dict (it replaces the default), or the task's default when None."""
    if source is None:
        return default_space(task)
    if isinstance(source, dict):
        return copy.deepcopy(source)
    path = Path(source)
    if not path.is_file():
        raise RecipeError(f"space file {path} does not exist — check --space, or leave it out for the default space")
    raw = parse_yaml(path.read_text(encoding="utf-8"), str(path))
    if not isinstance(raw, dict) or not raw:
        raise RecipeError(f"{path}: a space is a YAML mapping of recipe keys, e.g. `training.learning_rate: "
                          "{type: float, low: 1.0e-5, high: 2.0e-4, log: true}`")
    return raw


def set_dotted(raw: dict, key: str, value) -> dict:
    """`raw` with `a.b.c = value` (absent or null sections become mappings); edits `raw` in place."""
    node, parts = raw, key.split(".")
    for part in parts[:-1]:
        if not isinstance(node.get(part), dict):
            node[part] = {}
        node = node[part]
    node[parts[-1]] = value
    return raw


def with_params(base_raw: dict, params: dict) -> BaseModel:
    """The recipe `base_raw` with each dotted key of `params` set (validated by the recipe class)."""
    raw = copy.deepcopy(base_raw)
    for key, value in params.items():
        set_dotted(raw, key, value)
    return load_recipe(raw)


def _schema_has(schema: type[BaseModel], key: str) -> list[str] | None:
    """None when `key` is a field of `schema` (through nested sections), else the field names where it failed."""
    cls: type[BaseModel] | None = schema
    for part in key.split("."):
        fields = getattr(cls, "model_fields", None) if cls is not None else None
        if not fields or part not in fields:
            return list(fields or [])
        cls = _submodel(fields[part].annotation)
    return None


def validate_space(space: dict, base_raw: dict, schema: type[BaseModel]) -> dict:
    """Check every entry before any trial: known key, sound type and bounds, values the recipe accepts.
    Returns the space with defaults filled in (`log: false`); raises a one-line RecipeError naming the key."""
    if not isinstance(space, dict) or not space:
        raise RecipeError("the search space is empty — give at least one key, e.g. `training.learning_rate: "
                          "{type: float, low: 1.0e-5, high: 2.0e-4, log: true}`")
    checked = {}
    for key, spec in space.items():
        key = str(key)
        if any(key == f or key.startswith(f + ".") for f in _FIXED):
            raise RecipeError(f"space: `{key}` must be the same for every trial (same data, split, seed and "
                              "metric) — set it in the recipe or with --set, not in the space")
        fields = _schema_has(schema, key)
        if fields is not None:
            last = key.rsplit(".", 1)
            close = difflib.get_close_matches(last[-1], fields, n=1)
            hint = f"did you mean `{'.'.join(last[:-1] + close)}`? " if close else ""
            raise RecipeError(f"space: `{key}` is not a recipe key — {hint}see `ecomtune show` or the recipe docs")
        checked[key] = spec = _check_spec(key, spec)
        values = spec["choices"] if spec["type"] == "categorical" else [spec["low"], spec["high"]]
        for value in values:
            try:
                with_params(base_raw, {key: value})
            except RecipeError as exc:
                reason = str(exc).split(": ", 1)[-1]
                raise RecipeError(f"space: `{key}` = {value!r} is refused by the recipe ({reason}) — change the "
                                  "space's bounds or choices") from None
    return checked


def _check_spec(key: str, spec) -> dict:
    example = "e.g. `{type: float, low: 1.0e-5, high: 2.0e-4, log: true}` or `{type: categorical, choices: [8, 16]}`"
    if not isinstance(spec, dict) or spec.get("type") not in TYPES:
        raise RecipeError(f"space: `{key}` needs `type:` float, int or categorical — {example}")
    kind = spec["type"]
    allowed = {"type", "choices"} if kind == "categorical" else {"type", "low", "high", "log", "step"}
    extra = sorted(set(spec) - allowed)
    if extra:
        raise RecipeError(f"space: `{key}` ({kind}) does not take `{extra[0]}` — use {', '.join(sorted(allowed))}")
    if kind == "categorical":
        choices = spec.get("choices")
        if not isinstance(choices, list) or not choices:
            raise RecipeError(f"space: `{key}` needs a non-empty `choices:` list, e.g. `choices: [8, 16, 32]`")
        bad = [c for c in choices if c is not None and not isinstance(c, (bool, int, float, str))]
        if bad:
            raise RecipeError(f"space: `{key}` choice {bad[0]!r} is not a number, string, boolean or null — "
                              "categorical choices must be plain values")
        if len(set(map(repr, choices))) != len(choices):
            raise RecipeError(f"space: `{key}` lists a choice twice — give each choice once")
        return {"type": kind, "choices": list(choices)}
    low, high = spec.get("low"), spec.get("high")
    number = int if kind == "int" else (int, float)
    if not all(isinstance(v, number) and not isinstance(v, bool) for v in (low, high)):
        raise RecipeError(f"space: `{key}` ({kind}) needs numeric `low:` and `high:`"
                          f"{' (whole numbers)' if kind == 'int' else ''} — {example}")
    if not low < high:
        raise RecipeError(f"space: `{key}` has low {low} >= high {high} — make low smaller than high (a fixed "
                          "value belongs in the recipe or --set)")
    log, step = bool(spec.get("log", False)), spec.get("step")
    if log and low <= 0:
        raise RecipeError(f"space: `{key}` is log-scaled, so `low` must be > 0, got {low}")
    if step is not None and (log or not isinstance(step, number) or step <= 0):
        raise RecipeError(f"space: `{key}` `step` must be a positive number and cannot combine with `log: true`")
    out = {"type": kind, "low": low if kind == "int" else float(low), "high": high if kind == "int" else float(high),
           "log": log}
    if step is not None:
        out["step"] = step
    return out


def suggest(trial, space: dict) -> dict:
    """Optuna suggestions for one trial, keyed by the dotted recipe keys."""
    params = {}
    for key, spec in space.items():
        if spec["type"] == "categorical":
            params[key] = trial.suggest_categorical(key, spec["choices"])
        elif spec["type"] == "int":
            params[key] = trial.suggest_int(key, spec["low"], spec["high"], step=spec.get("step", 1), log=spec["log"])
        else:
            params[key] = trial.suggest_float(key, spec["low"], spec["high"], step=spec.get("step"), log=spec["log"])
    return params
