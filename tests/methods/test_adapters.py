"""PEFT adapters on tiny models: every method trains and reloads, targets are checked, merge, resume from adapter."""
from __future__ import annotations

import json
import shutil

import pytest
from safetensors.torch import load_file

import ecomtune
from ecomtune.errors import RecipeError, RunDirError
from ecomtune.recipes import load_recipe
from tests.conftest import classify_recipe

TEXTS = ["the dress is great and comfortable", "awful cheap broken shirt", "衣服很差，退货", "衣服很好，喜欢"]


def adapter_recipe(reviews_csv, backbone, tmp_path, method, **adapter):
    raw = classify_recipe(reviews_csv, backbone, tmp_path, epochs=3, learning_rate=1e-2, evaluate_every=4)
    raw["evaluation"]["baseline"] = False
    raw["model"]["adapter"] = {"method": method, "r": 4, "virtual_tokens": 4, **adapter}
    return raw


@pytest.mark.parametrize("method", ["lora", "adalora", "ia3", "prefix", "prompt"])
@pytest.mark.parametrize("which", ["tiny_encoder", "tiny_decoder"])
def test_every_adapter_trains_saves_only_itself_and_reloads(method, which, reviews_csv, tmp_path, request):
    raw = adapter_recipe(reviews_csv, request.getfixturevalue(which), tmp_path, method)
    raw["training"]["max_steps"] = 6
    run = ecomtune.train(raw)
    manifest = json.loads((run / "manifest.json").read_text())
    cost = manifest["cost"]
    assert 0 < cost["trainable_params"] < 0.5 * cost["total_params"], cost
    assert manifest["adapter"]["method"] == method and manifest["adapter"]["merged"] is False
    assert (run / "model" / "adapter_config.json").exists()
    assert (run / "model" / "adapter_model.safetensors").exists()
    assert not (run / "model" / "model.safetensors").exists()  # the frozen base is not copied
    model = ecomtune.load(run, precision="fp32")
    before = model.predict(TEXTS)
    # the reloaded adapter reproduces the evaluation the run recorded
    again = ecomtune.evaluate(run)
    assert again["accuracy"] == pytest.approx(manifest["metrics"]["test"]["accuracy"])
    assert [p["label"] for p in ecomtune.predict(run, TEXTS)] == [p["label"] for p in before]


def test_default_targets_are_the_block_linears_and_layers_restrict_them(reviews_csv, tiny_decoder, tmp_path):
    raw = adapter_recipe(reviews_csv, tiny_decoder, tmp_path, "lora", layers=[1])
    raw["training"]["max_steps"] = 1
    model = ecomtune.load(ecomtune.train(raw))
    wrapped = {n.split(".lora_A")[0] for n, _ in model.model.backbone.named_parameters() if "lora_A" in n}
    assert wrapped and all(".layers.1." in n for n in wrapped), wrapped
    assert {n.split(".")[-1] for n in wrapped} == {"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj",
                                                   "down_proj"}


def test_a_target_that_matches_nothing_lists_the_modules(reviews_csv, tiny_decoder, tmp_path):
    raw = adapter_recipe(reviews_csv, tiny_decoder, tmp_path, "lora", target_modules=["qproj"])
    with pytest.raises(RecipeError, match=r"`qproj` matches no module .*did you mean `q_proj`.*k_proj"):
        ecomtune.train(raw)


def test_layers_out_of_range_is_an_error(reviews_csv, tiny_decoder, tmp_path):
    with pytest.raises(RecipeError, match=r"\[7\] out of range — the backbone has 2 layers"):
        ecomtune.train(adapter_recipe(reviews_csv, tiny_decoder, tmp_path, "lora", layers=[7]))


@pytest.mark.parametrize("bad, message", [
    ({"adapter": {"method": "prefix", "target_modules": ["q_proj"]}}, "do not apply to `prefix`"),
    ({"adapter": {"method": "lora", "init_text": "hi"}}, "initialises prompt tuning only"),
])
def test_incompatible_adapter_settings_fail_before_training(bad, message, reviews_csv, tiny_encoder, tmp_path):
    raw = classify_recipe(reviews_csv, tiny_encoder, tmp_path)
    raw["model"].update(bad)
    with pytest.raises(RecipeError, match=message):
        load_recipe(raw)


def test_adapter_with_layer_freezing_is_refused(reviews_csv, tiny_encoder, tmp_path):
    raw = adapter_recipe(reviews_csv, tiny_encoder, tmp_path, "lora")
    raw["training"]["freeze_layers"] = 1
    with pytest.raises(RecipeError, match="freezes the whole backbone itself"):
        load_recipe(raw)


def test_export_merge_gives_a_plain_model_with_the_same_predictions(reviews_csv, tiny_encoder, tmp_path):
    run = ecomtune.train(adapter_recipe(reviews_csv, tiny_encoder, tmp_path, "lora"))
    merged = ecomtune.export(run, tmp_path / "merged", merge=True)
    assert (merged / "model" / "model.safetensors").exists() and not (merged / "model/adapter_config.json").exists()
    manifest = json.loads((merged / "manifest.json").read_text())
    assert manifest["adapter"]["merged"] is True
    a = ecomtune.load(run, precision="fp32").predict(TEXTS)
    b = ecomtune.load(merged, precision="fp32").predict(TEXTS)
    for x, y in zip(a, b):
        assert x["label"] == y["label"] and x["score"] == pytest.approx(y["score"], abs=1e-4)
    with pytest.raises(RunDirError, match="already exists"):
        ecomtune.export(run, tmp_path / "merged", merge=True)
    with pytest.raises(RunDirError, match="nothing to merge"):
        ecomtune.export(merged, tmp_path / "again", merge=True)


def test_prompt_tuning_cannot_be_merged(reviews_csv, tiny_encoder, tmp_path):
    raw = adapter_recipe(reviews_csv, tiny_encoder, tmp_path, "prompt")
    raw["training"]["max_steps"] = 1
    run = ecomtune.train(raw)
    with pytest.raises(RunDirError, match="cannot be folded into the weights"):
        ecomtune.export(run, tmp_path / "merged", merge=True)
    copy = ecomtune.export(run, tmp_path / "copy")
    assert ecomtune.predict(copy, TEXTS[:1])[0]["label"] in ("negative", "positive")


def test_interrupted_adapter_run_resumes_from_small_checkpoints(reviews_csv, tiny_decoder, tmp_path, power_cut):
    raw = adapter_recipe(reviews_csv, tiny_decoder, tmp_path, "lora")
    raw["training"].update(epochs=1, max_steps=8, evaluate_every=2, batch_size=8)
    power_cut(5)
    with pytest.raises(RuntimeError, match="power cut"):
        ecomtune.train(raw)
    checkpoint = tmp_path / "run" / "checkpoints" / "checkpoint-4"
    saved = load_file(str(checkpoint / "model.safetensors"))
    assert saved and all("lora_" in k or k.startswith("heads.") for k in saved), sorted(saved)[:5]
    power_cut(None)

    run = ecomtune.train(raw, resume=True)
    manifest = json.loads((run / "manifest.json").read_text())
    assert manifest["cost"]["steps"] == 8
    assert [h["step"] for h in manifest["history"] if "eval_accuracy" in h] == [2, 4, 6, 8]

    # the resumed run ends where an uninterrupted one ends
    straight = dict(raw, output={"dir": str(tmp_path / "straight")})
    ref = ecomtune.train(straight)
    a = ecomtune.load(run, precision="fp32").predict(TEXTS)
    b = ecomtune.load(ref, precision="fp32").predict(TEXTS)
    for x, y in zip(a, b):
        assert x["score"] == pytest.approx(y["score"], abs=1e-4)


def test_adapter_run_without_its_base_model_says_how_to_fix_it(reviews_csv, tiny_encoder, tmp_path):
    raw = adapter_recipe(reviews_csv, tiny_encoder, tmp_path, "lora")
    raw["training"]["max_steps"] = 1
    run = ecomtune.train(raw)
    manifest = json.loads((run / "manifest.json").read_text())
    manifest["backbone"]["name"] = str(tmp_path / "gone")
    (run / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(RunDirError, match="export RUN_DIR OUT_DIR --merge"):
        ecomtune.load(run)
    shutil.rmtree(run)


def test_lora_with_gradient_checkpointing_matches_without(reviews_csv, tiny_decoder, tmp_path):
    scores = []
    for gc in (False, True):
        raw = adapter_recipe(reviews_csv, tiny_decoder, tmp_path / str(gc), "lora", dropout=0.0)
        raw["training"].update(max_steps=3, gradient_checkpointing=gc)
        scores.append([p["score"] for p in ecomtune.load(ecomtune.train(raw), precision="fp32").predict(TEXTS)])
    assert scores[0] == pytest.approx(scores[1], abs=1e-4)  # same maths, activations recomputed
