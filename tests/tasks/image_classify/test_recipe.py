"""The image recipe: methods that cannot apply to an image model are refused with the reason and the key; the
compare menu's image methods (linear-probe, freeze-N, mixup, cutmix) apply to an image recipe."""
from __future__ import annotations

import pytest

from ecomtune.comparison.plan import method_recipe
from ecomtune.errors import RecipeError
from ecomtune.methods.menu import define_method, get_method
from ecomtune.recipes import load_recipe
from ecomtune.tasks.image_classify.recipe import ImageRecipe

VIT = "google/vit-base-patch16-224"  # only a name here: nothing is downloaded to validate a recipe


def raw(backbone: str = "efficientnet-lite0") -> dict:
    return {"name": "rooms", "task": "image-classify", "data": {"train": "photos"}, "model": {"backbone": backbone}}


def test_a_plain_image_recipe_loads_with_image_defaults():
    recipe = load_recipe(raw())
    assert isinstance(recipe, ImageRecipe)
    t = recipe.training
    assert (t.batch_size, t.learning_rate, t.precision, t.group_by_length) == (32, 1e-3, "fp32", False)
    assert (t.augment.mixup, t.augment.cutmix, t.augment.flip) == (0.0, 0.0, True)
    assert recipe.data.levels == ["label"] and recipe.model.adapter is None


REFUSED = [
    # (backbone, overrides, what the message must say)
    ("efficientnet-lite0", ["training.adversarial={method: fgm}"],
     "`training.adversarial` perturbs token embeddings, and an image model has none"),
    ("efficientnet-lite0", ["training.freeze_embeddings=true"],
     "`training.freeze_embeddings` is for text (token embeddings)"),
    (VIT, ["model.adapter={method: prefix}"], "`model.adapter.method: prefix` adds virtual tokens to a text sequence"),
    (VIT, ["model.adapter={method: prompt}"], "`model.adapter.method: prompt` adds virtual tokens to a text sequence"),
    ("efficientnet-lite0", ["model.adapter={method: lora, r: 4}"],
     "`model.adapter` (lora) adapts attention projections, and efficientnet-lite0 is a CNN with none"),
    ("efficientnet-lite2", ["model.adapter={method: ia3}"],
     "`model.adapter` (ia3) adapts attention projections, and efficientnet-lite2 is a CNN with none"),
    (VIT, ["model.adapter={method: lora}", "training.freeze_layers=2"],
     "`model.adapter` (lora) freezes the whole backbone itself — remove `training.freeze_layers`"),
    (VIT, ["model.adapter={method: lora}", "training.linear_probe=true"],
     "`model.adapter` (lora) freezes the whole backbone itself"),
    (VIT, ["model.adapter={method: lora}", "training.layer_lr_decay=0.8"],
     "`model.adapter` (lora) freezes the whole backbone itself"),
    ("efficientnet-lite0", ["training.linear_probe=true", "training.freeze_layers=4"],
     "`training.linear_probe` trains the head only — remove `freeze_layers`"),
    ("efficientnet-lite0", ["training.linear_probe=true", "training.gradual_unfreeze=true"],
     "`training.linear_probe` trains the head only"),
    ("efficientnet-lite0", ["training.linear_probe=true", "training.layer_lr_decay=0.9"],
     "`training.linear_probe` trains the head only"),
    ("efficientnet-lite0", ["training.gradual_unfreeze=true", "training.freeze_layers=2"],
     "`training.gradual_unfreeze` and `training.freeze_layers` both decide which layers train"),
    ("efficientnet-lite0", ["training.distill={teacher: runs/big, unlabeled: more.csv}"],
     "`training.distill.unlabeled` is a text transfer set"),
    ("efficientnet-lite0", ["training.loss.name=focal", "training.label_smoothing=0.1"],
     "`training.label_smoothing` only applies to `loss.name: ce`"),
    ("efficientnet-lite0", ["training.early_stopping={patience: 2}", "data.validation_fraction=0"],
     "`training.early_stopping` needs validation images"),
    ("efficientnet-lite0", ["data.label_column=room", "data.label_columns=[l1, l2]"],
     "give `data.label_column` (one label) or `data.label_columns` (a taxonomy), not both"),
    ("efficientnet-lite0", ["training.augment.crop_scale=[0.9, 0.5]"],
     "`training.augment.crop_scale` must be 0 < low <= high <= 1, got [0.9, 0.5]"),
]


@pytest.mark.parametrize("backbone, overrides, reason", REFUSED, ids=[" ".join(o) for _, o, _ in REFUSED])
def test_methods_that_cannot_apply_to_images_are_refused_with_the_reason(backbone, overrides, reason):
    assert load_recipe(raw(backbone))  # the recipe itself is fine
    with pytest.raises(RecipeError) as err:
        load_recipe(raw(backbone), overrides)
    assert reason in str(err.value)


@pytest.mark.parametrize("overrides", [
    ["model.adapter={method: lora, r: 4}"],  # LoRA on a ViT
    ["training.freeze_layers=3"],
    ["training.gradual_unfreeze=true", "training.layer_lr_decay=0.8"],
    ["training.early_stopping={patience: 2}", "data.validation_fraction=0", "data.split_column=fold"],
    ["training.early_stopping={patience: 2}", "data.validation_fraction=0", "data.validation=val.csv"],
])
def test_combinations_that_do_apply_are_accepted(overrides):
    recipe = load_recipe(raw(VIT), overrides)
    assert isinstance(recipe, ImageRecipe)


@pytest.mark.parametrize("name, expect", [
    ("linear-probe", {"linear_probe": True, "freeze_layers": 0, "mixup": 0.0, "cutmix": 0.0}),
    ("freeze-4", {"linear_probe": False, "freeze_layers": 4, "mixup": 0.0, "cutmix": 0.0}),
    ("mixup", {"linear_probe": False, "freeze_layers": 0, "mixup": 0.2, "cutmix": 0.0}),
    ("cutmix", {"linear_probe": False, "freeze_layers": 0, "mixup": 0.0, "cutmix": 1.0}),
])
def test_menu_image_methods_apply_to_an_image_recipe(name, expect, tmp_path):
    base = load_recipe(raw())
    recipe = load_recipe(raw(), list(get_method(name).overrides))
    t = recipe.training
    got = {"linear_probe": t.linear_probe, "freeze_layers": t.freeze_layers, "mixup": t.augment.mixup,
           "cutmix": t.augment.cutmix}
    assert got == expect
    # nothing else moves: the method changes the training section only
    changed = {k for k, v in recipe.model_dump().items() if v != base.model_dump()[k]}
    assert changed == {"training"}
    # the way compare applies it: the base recipe, renamed and with its own run directory
    planned = method_recipe(base, get_method(name), tmp_path / name)
    assert isinstance(planned, ImageRecipe) and planned.name == f"rooms-{name}"
    assert planned.training == recipe.training and planned.output.dir == str(tmp_path / name)


def test_mixup_and_cutmix_combine_in_one_ad_hoc_method():
    method = define_method("mix=mixup,cutmix")
    recipe = load_recipe(raw(), list(method.overrides))
    assert (recipe.training.augment.mixup, recipe.training.augment.cutmix) == (0.2, 1.0)


@pytest.mark.parametrize("name, key", [
    ("lora", "`model.adapter` (lora) adapts attention projections, and efficientnet-lite0 is a CNN"),
    ("prefix", "`model.adapter.method: prefix` adds virtual tokens"),
    ("fgm", "`training.adversarial` perturbs token embeddings"),
    ("augment", "unknown key `data.augment`"),
])
def test_menu_text_methods_are_refused_on_a_cnn_recipe(name, key, tmp_path):
    with pytest.raises(RecipeError, match=f"^method `{name}`: .*{key.replace('(', '.').replace(')', '.')}"):
        method_recipe(load_recipe(raw()), get_method(name), tmp_path / name)


def test_lora_from_the_menu_applies_to_a_vit_recipe(tmp_path):
    recipe = method_recipe(load_recipe(raw(VIT)), get_method("lora"), tmp_path / "lora")
    assert recipe.model.adapter.method == "lora" and recipe.training.learning_rate == 3e-4
    assert recipe.training.freeze_layers == 0 and recipe.training.layer_lr_decay == 1.0
