"""Every bundled preset loads; bad recipes fail with one line naming the key, the value and the fix."""
from __future__ import annotations

import pytest

from ecomtune.errors import RecipeError
from ecomtune.recipes import Recipe, load_recipe, preset_names

BASE = {"name": "x", "task": "classify", "data": {"train": "a.csv", "text_column": "t", "label_column": "l"},
        "model": {"backbone": "minilm"}}


@pytest.mark.parametrize("name", preset_names())
def test_every_preset_loads(name):
    from ecomtune.registry import task

    recipe = load_recipe(name)
    assert type(recipe) is task(recipe.task).part("recipe") and recipe.name == name
    if recipe.task in ("classify", "taxonomy", "multitask"):
        assert isinstance(recipe, Recipe)


def test_required_presets_exist():
    assert {"demo", "sentiment-en", "sentiment-zh", "category-zh", "taxonomy-en"} <= set(preset_names())


def _with(section: str, key: str, value) -> dict:
    import copy

    raw = copy.deepcopy(BASE)
    raw.setdefault(section, {})[key] = value
    return raw


@pytest.mark.parametrize("raw, expected", [
    (_with("training", "lerning_rate", 1e-4), "unknown key `training.lerning_rate` — did you mean `training.learning_rate`?"),
    (_with("training", "batch_size", 0), "`training.batch_size` must be greater than or equal to 1, got 0"),
    (_with("model", "pooling", "max"), "`model.pooling` must be 'mean', 'last' or 'cls', got 'max'"),
    (_with("training", "precision", "fp8"), "`training.precision`"),
    (_with("model", "template", "Review:"), "`model.template` must contain `{text}`"),
    ({**BASE, "task": "taxonomy"}, "needs exactly one of `data.label_columns`"),
    ({**BASE, "data": {"train": "a.csv", "text_column": "t"}}, "`data.label_column` is required"),
    ({k: v for k, v in BASE.items() if k != "model"}, "`model` is required"),
    (_with("training", "gradual_unfreeze", True) | {"training": {"gradual_unfreeze": True, "freeze_layers": 2}},
     "`training.gradual_unfreeze` and `training.freeze_layers`"),
])
def test_bad_recipes_name_the_key(raw, expected):
    with pytest.raises(RecipeError) as info:
        load_recipe(raw)
    assert expected in str(info.value)
    assert "\n" not in str(info.value)


def test_value_errors_carry_the_fix():
    fix = r"got 0 — training examples per optimizer step \(over all processes with --nproc\), e\.g\. `16`"
    with pytest.raises(RecipeError, match=fix):
        load_recipe(_with("training", "batch_size", 0))


def test_overrides_and_yaml_int_label_keys(tmp_path):
    path = tmp_path / "r.yaml"
    path.write_text("name: x\ntask: classify\ndata:\n  train: d.csv\n  text_column: t\n  label_column: l\n"
                    "  label_map: {1: neg, 5: pos, 3: null}\nmodel: {backbone: minilm}\n", encoding="utf-8")
    recipe = load_recipe(path, ["training.epochs=1", "model.max_length=64"])
    assert recipe.training.epochs == 1 and recipe.model.max_length == 64
    assert recipe.data.label_map == {"1": "neg", "5": "pos", "3": None}
    assert recipe.data.train == str((tmp_path / "d.csv").resolve())  # relative to the recipe file


def test_invalid_yaml_names_the_line(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("name: x\ntask: [classify\n", encoding="utf-8")
    with pytest.raises(RecipeError, match=r"bad.yaml: line \d+, column \d+ is not valid YAML"):
        load_recipe(path)


def test_unknown_preset_suggests_close_name():
    with pytest.raises(RecipeError, match="did you mean `sentiment-zh`"):
        load_recipe("sentiment-zx")


def test_bad_override_format():
    with pytest.raises(RecipeError, match="must look like `section.key=value`"):
        load_recipe(BASE, ["training.epochs"])
