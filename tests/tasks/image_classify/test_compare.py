"""`ecomtune compare` on an image recipe: the same adaptation menu, table and Pareto plot as text, per-method runs
that are ordinary image runs, and menu methods an image model cannot take refused before anything trains."""
from __future__ import annotations

import json

import pytest

import ecomtune
from ecomtune.errors import RecipeError
from tests.tasks.image_classify.conftest import image_recipe, toy_photos

METHODS = ["full", "linear-probe", "freeze-1"]


@pytest.fixture(scope="module")
def compared(tiny_resnet, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("image-compare")
    raw = image_recipe(toy_photos(tmp / "photos", per_class=10), tiny_resnet, tmp / "run")
    raw["training"]["epochs"] = 1
    raw["evaluation"]["baseline"] = False
    out = tmp / "cmp"
    return out, ecomtune.compare(raw, METHODS, out=out)


def test_every_method_trains_an_image_run_and_the_table_ranks_them(compared):
    out, result = compared
    table = json.loads((out / "compare.json").read_text())
    rows = {r["method"]: r for r in table["methods"]}
    assert set(rows) == set(METHODS)
    for name in METHODS:
        manifest = json.loads((out / name / "manifest.json").read_text())
        assert manifest["task"] == "image-classify"
        assert (out / name / "model" / "preprocess.json").is_file()
    # the linear probe trains only the head, so it has the fewest trainable parameters; full trains everything
    trainable = {m: rows[m]["trainable_params"] for m in METHODS}
    assert trainable["linear-probe"] < trainable["freeze-1"] < trainable["full"]
    assert (out / "pareto.png").stat().st_size > 0
    assert result is not None


def test_a_text_only_method_is_refused_with_the_reason_before_training(tiny_resnet, tmp_path):
    raw = image_recipe(toy_photos(tmp_path / "photos", per_class=4), tiny_resnet, tmp_path / "run")
    with pytest.raises(RecipeError, match="prefix"):
        ecomtune.compare(raw, ["full", "prefix"], out=tmp_path / "cmp")
    assert not (tmp_path / "cmp" / "full").exists()
