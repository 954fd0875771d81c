"""task: generate on a tiny random chat LM: the loss mask, batching, training (and resuming), decoding, the run
directory, the CLI."""
from __future__ import annotations

import json

import pytest

import ecomtune
from ecomtune.errors import DataError, RecipeError
from ecomtune.tasks.generate.data import (
    IGNORE,
    Pairs,
    PromptFormat,
    collate,
    encode_pairs,
    length_batches,
)
from ecomtune.tasks.generate.recipe import GenerateModel
from tests.tasks.generate.conftest import generate_recipe, write_pairs


@pytest.fixture
def fmt(tiny_chat_lm):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tiny_chat_lm)
    return PromptFormat(tok, GenerateModel(backbone=tiny_chat_lm, template="写文案：{input}", max_prompt_tokens=64,
                                           max_target_tokens=48))


def test_loss_is_on_the_target_tokens_only(fmt):
    (ids, labels), = encode_pairs(fmt, Pairs(["类型#裙*颜色#白色"], ["白色连衣裙"]))
    prompt = fmt.ids("类型#裙*颜色#白色")
    target = fmt.tokenizer("白色连衣裙", add_special_tokens=False)["input_ids"]
    assert ids == prompt + target + [fmt.tokenizer.eos_token_id]
    assert labels[:len(prompt)] == [IGNORE] * len(prompt)  # no loss on the prompt ...
    assert labels[len(prompt):] == target + [fmt.tokenizer.eos_token_id]  # ... all of it on the answer and its end
    text = fmt.tokenizer.decode(prompt)
    assert text.startswith("<|im_start|>user\n写文案：类型#裙") and text.endswith("<|im_start|>assistant\n")


def test_padding_carries_no_loss_and_no_attention(fmt):
    examples = encode_pairs(fmt, Pairs(["类型#裙", "类型#上衣*颜色#黑色*材质#棉"], ["好", "很好看的黑色上衣"]))
    batch = collate(examples, fmt.tokenizer.pad_token_id)
    short = len(examples[0][0])
    assert (batch["labels"][0, short:] == IGNORE).all() and (batch["attention_mask"][0, short:] == 0).all()
    assert batch["attention_mask"][1].all()


def test_prompts_are_cut_from_the_left_and_targets_from_the_right(fmt):
    fmt.model.max_prompt_tokens, fmt.model.max_target_tokens = 8, 4
    (ids, labels), = encode_pairs(fmt, Pairs(["类型#上衣*颜色#黑色*材质#棉" * 5], ["很好看的黑色上衣" * 5]))
    assert ids[:8] == fmt.full_ids("类型#上衣*颜色#黑色*材质#棉" * 5)[-8:]  # the end, where the answer starts
    assert len(ids) == 8 + 4 + 1 and labels[8:] == ids[8:]


def test_length_batches_group_similar_lengths_and_repeat_for_a_seed():
    lengths = [5, 50, 6, 51, 7, 52, 8, 53]
    batches = length_batches(lengths, 2, seed=3, pool=10)
    assert sorted(i for b in batches for i in b) == list(range(8))
    assert all(abs(lengths[b[0]] - lengths[b[1]]) <= 2 for b in batches)
    assert batches == length_batches(lengths, 2, seed=3, pool=10)


def test_a_base_model_without_chat_template_is_told_to_use_a_template(tiny_decoder):
    from transformers import AutoTokenizer

    with pytest.raises(DataError, match="model.prompt: template"):
        PromptFormat(AutoTokenizer.from_pretrained(tiny_decoder), GenerateModel(backbone=tiny_decoder))


def test_recipe_errors_name_the_key(tmp_path, tiny_chat_lm):
    from pydantic import ValidationError

    from ecomtune.tasks.generate.recipe import GenerateRecipe

    with pytest.raises(ValidationError, match=r"\{input\}"):
        GenerateRecipe.model_validate(generate_recipe(tmp_path, tiny_chat_lm, model={"template": "no slot"}))
    with pytest.raises(ValidationError, match="micro_batch_size"):
        GenerateRecipe.model_validate(generate_recipe(tmp_path, tiny_chat_lm,
                                                      training={"batch_size": 6, "micro_batch_size": 4}))


def test_empty_output_is_named_by_row(tmp_path, tiny_chat_lm):
    recipe = generate_recipe(tmp_path, tiny_chat_lm)
    write_pairs(tmp_path / "data" / "pairs.jsonl", [{"content": "类型#裙", "summary": "好"},
                                                     {"content": "类型#裤", "summary": ""}] * 5)
    with pytest.raises(DataError, match=r"row 2, column `summary` is empty"):
        ecomtune.check_data(recipe)


def test_an_encoder_backbone_is_refused(tmp_path, tiny_encoder):
    with pytest.raises(RecipeError, match="causal LM"):
        ecomtune.train(generate_recipe(tmp_path, tiny_encoder))


def test_full_fine_tuning_learns_the_copy_and_the_run_predicts(tmp_path, tiny_chat_lm):
    recipe = generate_recipe(tmp_path, tiny_chat_lm, model={"adapter": None},
                             training={"epochs": 30, "learning_rate": 3e-3, "batch_size": 8, "micro_batch_size": 8})
    run = ecomtune.train(recipe)
    manifest = json.loads((run / "manifest.json").read_text(encoding="utf-8"))
    test, base = manifest["metrics"]["test"], manifest["baselines"]["retrieval"]
    history = manifest["history"]
    assert history[-1]["loss"] < history[0]["loss"] / 3
    assert test["rouge-l"] > 50 and 0 <= test["coverage"] <= 1, test  # the pattern is learnable: it was learned
    assert base["rouge-l"] > 0 and manifest["cost"]["train_tokens_per_second"] > 0
    assert (run / "samples.jsonl").is_file() and (run / "vocabulary.json").is_file()
    generator = ecomtune.load(run, device="cpu")
    samples = [json.loads(line) for line in (run / "samples.jsonl").read_text(encoding="utf-8").splitlines()]
    seen = next(s["input"] for s in samples if "\ufffd" not in s["output"])  # a tiny model can emit broken bytes
    (row,) = generator.predict([seen])
    assert row["text"] and set(row["attributes"]) == {"coverage", "contradictions"}
    assert "".join(generator.stream(seen)).strip() == row["text"]
    sample = [generator.generate([seen], strategy="sample", seed=1, temperature=1.5) for _ in range(2)]
    assert sample[0] == sample[1]  # one seed, one sample
    assert generator.evaluate()["rouge-l"] == pytest.approx(test["rouge-l"], abs=1e-6)


def test_interrupted_fine_tuning_resumes_to_the_same_weights(tmp_path, tiny_chat_lm, monkeypatch):
    import torch

    from ecomtune.tasks.generate import sft

    over = {"training": {"epochs": 3, "checkpoint_minutes": 1e-6}, "evaluation": {"baselines": [], "rows": 2}}
    whole = ecomtune.train(generate_recipe(tmp_path, tiny_chat_lm, "whole", **over))
    original, calls = torch.optim.AdamW.step, {"n": 0}

    def step(self, *a, **k):
        calls["n"] += 1
        if calls["n"] == 9:
            raise RuntimeError("simulated power cut")
        return original(self, *a, **k)

    monkeypatch.setattr(torch.optim.AdamW, "step", step)
    recipe = generate_recipe(tmp_path, tiny_chat_lm, "cut", **over)
    with pytest.raises(RuntimeError, match="power cut"):
        ecomtune.train(recipe)
    assert (tmp_path / "runs" / "cut" / "checkpoints" / "state.json").is_file()
    monkeypatch.setattr(torch.optim.AdamW, "step", original)
    resumed = ecomtune.train(recipe, resume=True)
    from safetensors.torch import load_file

    a = load_file(str(whole / "model" / "adapter_model.safetensors"))
    b = load_file(str(resumed / "model" / "adapter_model.safetensors"))
    assert a.keys() == b.keys() and all(torch.allclose(a[k], b[k], atol=1e-5) for k in a)
    assert sft  # the loop under test


@pytest.mark.parametrize("method", ["prompt", "ia3"])
def test_other_adapters_train_and_reload(tmp_path, tiny_chat_lm, method):
    adapter = {"method": method, "virtual_tokens": 4} if method == "prompt" else {"method": method}
    recipe = generate_recipe(tmp_path, tiny_chat_lm, method, model={"adapter": adapter},
                             training={"max_steps": 2}, evaluation={"rows": 2})
    run = ecomtune.train(recipe)
    assert ecomtune.load(run, device="cpu").generate(["类型#裙*颜色#黑色"], max_new_tokens=4)


def test_lora_run_merges_and_compresses_to_int8(tmp_path, tiny_chat_lm):
    run = ecomtune.train(generate_recipe(tmp_path, tiny_chat_lm, training={"max_steps": 2}, evaluation={"rows": 3}))
    before = ecomtune.load(run, device="cpu").generate(["类型#裙*颜色#黑色"], max_new_tokens=5)
    merged = ecomtune.export(run, tmp_path / "merged", merge=True)
    assert not (merged / "model" / "adapter_config.json").exists() and (merged / "model" / "config.json").is_file()
    assert ecomtune.load(merged, device="cpu").generate(["类型#裙*颜色#黑色"], max_new_tokens=5) == before
    with pytest.raises(ecomtune.errors.EcomtuneError, match="nothing to merge"):
        ecomtune.export(merged, tmp_path / "again", merge=True)
    small = ecomtune.compress(run, "int8", tmp_path / "int8", rows=2)
    report = json.loads((small / "compress.json").read_text(encoding="utf-8"))
    assert set(report) == {"fp32", "int8"} and report["int8"]["rows"] == 2
    loaded = ecomtune.load(small, device="cpu")
    assert "quantized" in type(loaded.lm.model.model.layers[0].mlp.up_proj).__module__


def test_compare_runs_methods_of_the_menu_on_a_generation_recipe(tmp_path, tiny_chat_lm):
    recipe = generate_recipe(tmp_path, tiny_chat_lm, training={"max_steps": 2}, evaluation={"rows": 2})
    result = ecomtune.compare(recipe, ["lora", "ia3", "prompt"], out=tmp_path / "cmp", isolate=False)
    rows = {r["method"]: r for r in result["methods"]}
    assert set(rows) == {"lora", "ia3", "prompt"} and all(r["status"] == "trained" for r in rows.values()), rows
    assert all(r["quality"] is not None and r["trainable_params"] > 0 for r in rows.values())
    assert (tmp_path / "cmp" / "pareto.png").is_file()
