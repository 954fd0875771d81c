"""Turn (recipe, methods) into one validated recipe per method and decide, per run directory, what to do.

Everything here runs before any training: a bad method, a bad combination or a run directory that holds
someone else's run is an error now, not after the first hour of a compare.
"""
from __future__ import annotations

import copy
import json
from dataclasses import dataclass
from pathlib import Path

from ecomtune.errors import RecipeError, RunDirError
from ecomtune.methods.menu import ADAPTER_RESET, Method
from ecomtune.recipes import Recipe, load_recipe
from ecomtune.recipes.loader import (
    first_difference,
    parse_yaml,
    recipe_to_store,
    schema_for,
)
from ecomtune.recipes.schema import TrainingConfig
from ecomtune.rundir import MANIFEST, check_replaceable

CHECKPOINTS = "checkpoints"  # same folder name as training/run.py uses

# Keys a method may not change: every method runs on the same split, seed and metric, into its own directory.
GENERATIVE = ("generate", "qa")  # recipes with `model.adapter` and `evaluation.metric` but their own training
_FIXED = ("name", "task", "language", "data", "training.seed", "evaluation.metric", "output")
_FIXED_EXCEPT = "data.augment"  # augmentation edits training rows only; the split stays the same


@dataclass
class PlannedRun:
    """One method of a compare: its recipe, its run directory and what to do there.

    `action` is `reuse` (a finished run of this exact recipe), `resume` (an interrupted run of this recipe with
    checkpoints) or `train` (nothing usable there yet).
    """

    method: Method
    recipe: Recipe
    run_dir: Path
    action: str


def base_recipe(source: Recipe | str | Path | dict, overrides: list[str] | None = None) -> Recipe:
    """The compared recipe with the user's `--set` overrides (the same for every method)."""
    if isinstance(getattr(source, "training", None), TrainingConfig):
        return load_recipe(source.model_dump(mode="json", exclude_unset=True), overrides) if overrides else source
    recipe = load_recipe(source, overrides)
    if not isinstance(getattr(recipe, "training", None), TrainingConfig) and recipe.task not in GENERATIVE:
        raise RecipeError(f"`compare` runs the adaptation menu on classification and generation recipes; "
                          f"`task: {recipe.task}` has its own training — train its variants with `ecomtune train "
                          "... --set`")
    return recipe


def method_recipe(base: Recipe, method: Method, run_dir: Path) -> Recipe:
    """`base` with the method's overrides, named `<base>-<method>` and saved into `run_dir`."""
    for item in method.overrides:
        key = item.split("=", 1)[0].strip()
        if _is_fixed(key):
            raise RecipeError(f"method `{method.name}` sets `{key}`, which must be the same for every method of a "
                              "compare (same split, seed, metric) — put it in --set instead")
    raw = copy.deepcopy(base.model_dump(mode="json", exclude_unset=True))
    raw["name"] = f"{base.name}-{method.name}"
    raw["output"] = {"dir": str(run_dir), "overwrite": False}
    overrides = [o for o in method.overrides if o not in ADAPTER_RESET or _has_key(type(base), o.split("=")[0])]
    try:
        return load_recipe(raw, overrides)
    except RecipeError as exc:
        raise RecipeError(f"method `{method.name}`: {str(exc).removeprefix('recipe: ')}") from None


def _has_key(cls, dotted: str) -> bool:
    """Whether the recipe class has the (nested) field `a.b.c`."""
    for part in dotted.split("."):
        field = getattr(cls, "model_fields", {}).get(part)
        if field is None:
            return False
        cls = field.annotation
    return True


def _is_fixed(key: str) -> bool:
    def under(prefix: str) -> bool:
        return key == prefix or key.startswith(prefix + ".")

    return not under(_FIXED_EXCEPT) and any(under(f) for f in _FIXED)


def preflight(recipe: Recipe, method: Method) -> None:
    """Checks that need the backbone's config (not its weights): layer counts of `freeze_layers` & co."""
    t, m = recipe.training, recipe.model
    if recipe.task in GENERATIVE:
        return  # no freezing or layer options; the adapter checks its own layers when it is built
    keep = getattr(m, "keep_layers", None)  # text only
    if t.gradual_unfreeze and t.epochs < 2:
        raise RecipeError(f"method `{method.name}`: `training.gradual_unfreeze` needs `training.epochs` >= 2 "
                          "(it unfreezes per epoch)")
    needs_layers = t.freeze_layers or (m.adapter and m.adapter.layers) or keep
    if not needs_layers:
        return
    n = _layer_count(m.backbone)
    if n is None:
        return  # unknown architecture: building the model says what is wrong
    if keep and keep > n:
        raise RecipeError(f"method `{method.name}`: `model.keep_layers` is {keep} but {m.backbone} has "
                          f"{n} layers — set it between 1 and {n}")
    n = min(n, keep or n)
    if t.freeze_layers > n:
        raise RecipeError(f"method `{method.name}`: `training.freeze_layers` is {t.freeze_layers} but "
                          f"{m.backbone} has {n} layers — use freeze-N with N between 0 and {n}")
    bad = [i for i in (m.adapter.layers or [] if m.adapter else []) if not 0 <= i < n]
    if bad:
        raise RecipeError(f"method `{method.name}`: `model.adapter.layers` has {bad} but {m.backbone} has layers "
                          f"0..{n - 1}")


def _layer_count(backbone: str) -> int | None:
    from transformers import AutoConfig

    from ecomtune.backbones import resolve_backbone

    try:
        config = AutoConfig.from_pretrained(resolve_backbone(backbone).path)
    except Exception:  # noqa: BLE001 - a backbone problem is reported by training with its own message
        return None
    config = config.get_text_config() if hasattr(config, "get_text_config") else config
    n = getattr(config, "num_hidden_layers", None) or getattr(config, "n_layer", None)
    return int(n) if n else None


def recipe_key(recipe: Recipe | dict) -> dict:
    """What must match for a saved run to count as this method's run: the recipe without `output`."""
    if isinstance(recipe, dict):
        try:  # a saved recipe gains the defaults of keys added to the schema since it was written
            recipe = schema_for(recipe).model_validate(recipe)
        except (ValueError, RecipeError):
            pass
    d = copy.deepcopy(recipe) if isinstance(recipe, dict) else recipe.model_dump(mode="json")
    d.pop("output", None)
    return d




def decide(recipe: Recipe, method: Method, run_dir: Path, overwrite: bool) -> tuple[Recipe, str]:
    """What to do in `run_dir`: (recipe to train, `reuse` | `resume` | `train`)."""
    manifest_path, saved_path = run_dir / MANIFEST, run_dir / "recipe.yaml"
    want = recipe_key(recipe_to_store(recipe, run_dir))
    replace = recipe.model_copy(deep=True)
    replace.output.overwrite = True
    if manifest_path.exists():
        try:
            saved = json.loads(manifest_path.read_text(encoding="utf-8")).get("recipe") or {}
        except ValueError:
            saved = {}
        diff = first_difference(recipe_key(saved), want)
        if diff is None:
            return recipe, "reuse"
        if not overwrite:
            raise RunDirError(f"{run_dir} holds a finished run of a different recipe (`{diff}` differs) — pass "
                              "--overwrite to retrain it, or choose another --out")
        return replace, "train"
    if saved_path.exists():
        saved = parse_yaml(saved_path.read_text(encoding="utf-8"), str(saved_path)) or {}
        checkpoints = any((run_dir / CHECKPOINTS).glob("checkpoint-*"))
        diff = first_difference(recipe_key(saved), want)
        if diff is None and checkpoints:
            return recipe, "resume"
        if diff is not None and checkpoints and not overwrite:
            raise RunDirError(f"{run_dir} holds an interrupted run of a different recipe (`{diff}` differs) — "
                              "pass --overwrite to start it over, or choose another --out")
        return replace, "train"
    check_replaceable(run_dir, overwrite, "pass --overwrite to replace it, or choose another --out")
    return replace, "train"


def plan(base: Recipe, methods: list[Method], out: Path, overwrite: bool = False) -> list[PlannedRun]:
    """Validate every method's recipe and decide each run directory's action; trains nothing."""
    runs = []
    for method in methods:
        run_dir = Path(out) / method.name
        recipe = method_recipe(base, method, run_dir)
        preflight(recipe, method)
        recipe, action = decide(recipe, method, run_dir, overwrite)
        runs.append(PlannedRun(method, recipe, run_dir, action))
    return runs
