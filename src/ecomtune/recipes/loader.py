"""Load recipes from YAML files or bundled presets, apply `--set key=value` overrides, explain errors."""
from __future__ import annotations

import copy
import difflib
import os
from importlib import resources
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from ecomtune.errors import RecipeError
from ecomtune.recipes.schema import Recipe

PACKAGE_PREFIX = "ecomtune:"  # data paths starting with this point inside the installed package
MAX_YAML_CHARS = 1_000_000
MAX_YAML_VALUES = 100_000


def preset_names() -> list[str]:
    """Names of the bundled presets (`ecomtune train sentiment-zh` works without a file)."""
    folder = resources.files("ecomtune.recipes").joinpath("presets")
    return sorted(p.name[:-5] for p in folder.iterdir() if p.name.endswith(".yaml"))


def _preset_text(name: str) -> str:
    return resources.files("ecomtune.recipes").joinpath("presets", f"{name}.yaml").read_text(encoding="utf-8")


def load_recipe(source: str | Path | dict, overrides: list[str] | None = None) -> Recipe:
    """Load a recipe from a YAML path, a preset name or a dict, and validate it.

    Relative data paths in a recipe file are resolved against the file's folder; in presets and dicts they are
    relative to the current directory. `overrides` are `dotted.key=yaml_value` strings.
    """
    if isinstance(source, dict):
        raw, base, origin = source, None, "recipe"
    else:
        path = Path(source)
        if path.suffix in (".yaml", ".yml") or path.exists():
            if not path.exists():
                raise RecipeError(f"recipe file {path} does not exist — check the path or use a preset: "
                                  f"{', '.join(preset_names())}")
            raw, base, origin = parse_yaml(path.read_text(encoding="utf-8"), str(path)), path.parent, str(path)
        elif str(source) in preset_names():
            raw, base, origin = parse_yaml(_preset_text(str(source)), f"preset {source}"), None, f"preset {source}"
        else:
            close = difflib.get_close_matches(str(source), preset_names(), n=1)
            hint = f"did you mean `{close[0]}`? " if close else ""
            raise RecipeError(f"'{source}' is neither a recipe file nor a preset — {hint}presets: "
                              f"{', '.join(preset_names())}")
    if not isinstance(raw, dict):
        raise RecipeError(f"{origin}: a recipe must be a YAML mapping (key: value), got {type(raw).__name__}")
    raw = _apply_overrides(copy.deepcopy(raw), overrides or [])  # never edit the caller's dict
    schema = schema_for(raw, origin)
    try:
        recipe = schema.model_validate(raw)
    except ValidationError as exc:
        raise RecipeError(f"{origin}: {explain(exc, schema)}") from None
    if base is not None:
        _resolve_paths(recipe, base)
    return recipe


def parse_yaml(text: str, origin: str) -> Any:
    """Safe YAML (no tag runs code) without what no recipe needs and a hostile file uses: more than
    `MAX_YAML_CHARS`, nesting too deep to parse, or aliases that refer to themselves or expand to more than
    `MAX_YAML_VALUES` values (a few hundred bytes of `&a [*b, *b, ...]` can stand for billions)."""
    if len(text) > MAX_YAML_CHARS:
        raise RecipeError(f"{origin}: {len(text):,} characters of YAML, more than the {MAX_YAML_CHARS:,} a recipe "
                          "may have — is this the right file?")
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        _check_expansion(node, origin)
        return loader.construct_document(node)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise RecipeError(f"{origin}:{where} is not valid YAML ({getattr(exc, 'problem', None) or exc}) — "
                          "check indentation and quoting") from None
    except RecursionError:
        raise RecipeError(f"{origin}: YAML nested too deeply — a recipe is a few levels deep") from None
    finally:
        loader.dispose()


def _check_expansion(root: yaml.Node, origin: str) -> None:
    sizes: dict[int, int] = {}

    def size(node: yaml.Node, open_: set[int]) -> int:
        if id(node) in sizes:
            return sizes[id(node)]
        if id(node) in open_:
            raise RecipeError(f"{origin}: line {node.start_mark.line + 1}: a YAML alias refers to the value it is "
                              "part of — write the value out")
        open_.add(id(node))
        children = node.value if isinstance(node, yaml.SequenceNode) else \
            [part for pair in node.value for part in pair] if isinstance(node, yaml.MappingNode) else []
        total = 1 + sum(size(child, open_) for child in children)
        open_.discard(id(node))
        if total > MAX_YAML_VALUES:
            raise RecipeError(f"{origin}: line {node.start_mark.line + 1}: YAML aliases (*name) expand to more than "
                              f"{MAX_YAML_VALUES:,} values — a recipe needs no more; write the values out")
        sizes[id(node)] = total
        return total

    size(root, set())


def _apply_overrides(raw: dict, overrides: list[str]) -> dict:
    for item in overrides:
        if "=" not in item:
            raise RecipeError(f"override '{item}' must look like `section.key=value`, e.g. `training.epochs=1`")
        key, value = item.split("=", 1)
        node = raw
        parts = key.strip().split(".")
        for part in parts[:-1]:
            if node.get(part) is None:  # an absent or `null` optional section, e.g. `data.augment`
                node[part] = {}
            node = node[part]
            if not isinstance(node, dict):
                raise RecipeError(f"override '{item}': `{part}` is not a section")
        node[parts[-1]] = parse_yaml(value, f"override '{key.strip()}'") if value.strip() else None
    return raw


def schema_for(raw: dict, origin: str = "recipe") -> type[BaseModel]:
    """The recipe class of the document's `task` (text classification, recommend, search)."""
    from ecomtune.registry import tasks

    task = raw.get("task")
    if task is None:
        return Recipe  # its own validation says `task` is required
    if not isinstance(task, str) or task not in tasks():
        raise RecipeError(f"{origin}: `task` must be one of {', '.join(tasks().names())}, got {task!r}")
    return tasks().get(task).part("recipe")


def preset_file(name: str, out: Path) -> str:
    """The YAML to write a preset as an editable recipe file at `out`: the preset's own text (comments kept) when the
    file goes in the current folder — its relative data paths stay right — else with them rewritten relative to
    the file's folder, which is what a recipe file's relative paths are read against."""
    if name not in preset_names():
        close = difflib.get_close_matches(name, preset_names(), n=1)
        hint = f"did you mean `{close[0]}`? " if close else ""
        raise RecipeError(f"no preset '{name}' — {hint}presets: {', '.join(preset_names())}")
    text = _preset_text(name)
    base = Path(out).resolve().parent
    if base == Path.cwd().resolve():
        return text
    raw = parse_yaml(text, f"preset {name}")
    recipe = load_recipe(name)
    for field in _path_fields(recipe):
        value = raw.get("data", {}).get(field)
        if isinstance(value, str) and not value.startswith(PACKAGE_PREFIX) and not Path(value).is_absolute():
            raw["data"][field] = os.path.relpath(os.path.abspath(value), base)
    header = f"# The `{name}` preset, its data paths relative to this file's folder.\n"
    return header + yaml.safe_dump(raw, allow_unicode=True, sort_keys=False)


def preset_tasks() -> dict[str, str]:
    """{preset name: its `task`}, for `ecomtune tasks`."""
    return {name: str(parse_yaml(_preset_text(name), f"preset {name}").get("task")) for name in preset_names()}


def _path_fields(recipe: BaseModel) -> tuple[str, ...]:
    return getattr(getattr(recipe, "data", None), "PATH_FIELDS", ("train", "validation", "test"))


def _resolve_paths(recipe: BaseModel, base: Path) -> None:
    for field in _path_fields(recipe):
        value = getattr(recipe.data, field)
        if value and not value.startswith(PACKAGE_PREFIX) and not Path(value).is_absolute():
            setattr(recipe.data, field, str((base / value).resolve()))


def recipe_to_store(recipe: BaseModel, run_dir: str | Path) -> dict:
    """The recipe as a run directory keeps it (`recipe.yaml`, the manifest): without `output` (where a run lives is
    not part of how it was trained) and with data paths relative to the run directory, so no absolute path is
    stored and the folder still finds its data when moved together with it."""
    stored = recipe.model_dump(mode="json", exclude={"output"})
    base = Path(run_dir).resolve()
    for field in _path_fields(recipe):
        value = stored["data"].get(field)
        if value and not value.startswith(PACKAGE_PREFIX):  # relative ones are relative to the current folder
            stored["data"][field] = os.path.relpath(os.path.abspath(value), base)
    return stored


def recipe_of_run(run_dir: str | Path, manifest: dict, need_data: bool = False) -> BaseModel:
    """The recipe a run was trained with (from its manifest), its data paths resolved against the run directory.
    `need_data`: every data file must be there (evaluating on the recipe's own split); else a DataError names the
    key, the path the run stores and where that led."""
    from ecomtune.errors import DataError, RunDirError

    raw = manifest.get("recipe")
    origin = f"{Path(run_dir) / 'manifest.json'}: `recipe`"
    if not isinstance(raw, dict):
        raise RunDirError(f"{origin} is missing — the manifest is damaged; restore it, or retrain")
    try:
        recipe = schema_for(raw, origin).model_validate(raw)
    except (ValidationError, RecipeError) as exc:
        why = explain(exc, schema_for(raw, origin)) if isinstance(exc, ValidationError) else str(exc)
        raise RunDirError(f"{origin}: {why} — the manifest is damaged; restore it, or retrain") from None
    stored = {field: getattr(recipe.data, field) for field in _path_fields(recipe)}
    _resolve_paths(recipe, Path(run_dir))
    for field, value in stored.items():
        path = getattr(recipe.data, field)
        if need_data and value and not value.startswith(PACKAGE_PREFIX) and not Path(path).exists():
            raise DataError(f"{run_dir}: the recipe's `data.{field}` is {value} (relative to the run directory), "
                            f"i.e. {path}, which does not exist — copy the data along with the run directory, or "
                            "name a labelled file to evaluate on (--input)")
    return recipe


def explain(exc: ValidationError, root: type[BaseModel] = Recipe) -> str:
    """Turn a pydantic error into one line per problem that names the key, the value and the fix."""
    lines, errors = [], exc.errors()
    for err in errors[:3]:
        loc = [str(p) for p in err["loc"]]
        key = ".".join(loc)
        kind = err["type"]
        if kind == "extra_forbidden":
            parent, name = loc[:-1], loc[-1]
            allowed = _fields_at(parent, root)
            close = difflib.get_close_matches(name, allowed, n=1)
            hint = f"did you mean `{'.'.join(parent + [close[0]])}`?" if close else f"allowed: {', '.join(allowed)}"
            lines.append(f"unknown key `{key}` — {hint}")
        elif kind == "missing":
            lines.append(f"`{key}` is required — {_description(loc, root) or 'add it'}")
        elif kind == "string_pattern_mismatch":
            lines.append(f"`{key}` {_short(err.get('input'))} is not allowed — {_description(loc, root)}")
        elif kind == "value_error":
            lines.append(str(err["msg"]).removeprefix("Value error, "))
        else:
            desc = _description(loc, root)
            fix = f" — {desc}" if desc else ""
            msg = str(err["msg"]).replace("Input should be", "must be").replace("Input", "value")
            lines.append(f"`{key}` {msg}, got {_short(err.get('input'))}{fix}")
    more = f" (and {len(errors) - 3} more)" if len(errors) > 3 else ""
    return "; ".join(line if len(line) <= 300 else line[:300] + "…" for line in lines) + more


def _short(value, limit: int = 80) -> str:
    """A value as an error message quotes it: its repr, cut to `limit` characters."""
    text = repr(value)
    return text if len(text) <= limit else f"{text[:limit]}… ({len(text):,} characters)"


def _model_at(loc: list[str], root: type[BaseModel] = Recipe) -> type[BaseModel] | None:
    model: type[BaseModel] | None = root
    for part in loc:
        field = model.model_fields.get(part) if model else None
        if field is None:
            return None
        model = _submodel(field.annotation)
    return model


def _submodel(annotation) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in getattr(annotation, "__args__", ()):
        found = _submodel(arg)
        if found:
            return found
    return None


def _fields_at(loc: list[str], root: type[BaseModel] = Recipe) -> list[str]:
    model = _model_at(loc, root)
    return list(model.model_fields) if model else []


def _description(loc: list[str], root: type[BaseModel] = Recipe) -> str:
    model = _model_at(loc[:-1], root)
    field = model.model_fields.get(loc[-1]) if model else None
    return field.description or "" if field else ""


def first_difference(a, b, prefix: str = "") -> str | None:
    """The dotted key of the first difference between two recipe dicts (None when equal)."""
    if isinstance(a, dict) and isinstance(b, dict):
        for key in sorted(set(a) | set(b)):
            found = first_difference(a.get(key), b.get(key), f"{prefix}{key}.")
            if found:
                return found
        return None
    return prefix.rstrip(".") if a != b else None
