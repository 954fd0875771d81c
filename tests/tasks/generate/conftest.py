"""Generation fixtures: a tiny random Qwen2-architecture chat LM (byte-level BPE trained on the toy pairs, ChatML
template, eos `<|im_end|>`) and toy attribute -> copy pairs whose copy follows the attributes, so a few steps of
training move the metrics."""
from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

CHATML = ("{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}"
          "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}")
COLOURS = ["白色", "黑色", "红色", "蓝色"]
KINDS = ["上衣", "裙", "裤"]
STUFF = ["棉", "牛仔布", "针织"]


def toy_pairs(n: int, seed: int = 0) -> list[dict]:
    rng = random.Random(seed)
    rows = []
    for _ in range(n):
        kind, colour, stuff = rng.choice(KINDS), rng.choice(COLOURS), rng.choice(STUFF)
        rows.append({"content": f"类型#{kind}*颜色#{colour}*材质#{stuff}",
                     "summary": f"这款{colour}{kind}采用{stuff}面料，简约百搭。"})
    return rows


def write_pairs(path: Path, rows: list[dict]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    return path


@pytest.fixture(scope="session")
def tiny_chat_lm(tmp_path_factory) -> str:
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast, Qwen2Config, Qwen2ForCausalLM

    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("tiny-chat-lm")
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    corpus = [r["content"] + " " + r["summary"] for r in toy_pairs(200)] + ["user assistant system hello world"]
    tok.train_from_iterator(corpus, trainers.BpeTrainer(
        vocab_size=300, special_tokens=["<|endoftext|>", "<|im_start|>", "<|im_end|>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, eos_token="<|im_end|>", pad_token="<|endoftext|>")
    fast.chat_template = CHATML
    model = Qwen2ForCausalLM(Qwen2Config(
        vocab_size=len(fast), hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2,
        num_key_value_heads=1, max_position_embeddings=256, pad_token_id=fast.pad_token_id,
        eos_token_id=fast.eos_token_id, tie_word_embeddings=True))
    model.save_pretrained(path)
    fast.save_pretrained(path)
    return str(path)


def generate_recipe(folder: Path, backbone: str, name: str = "gen", **over) -> dict:
    data = write_pairs(folder / "data" / "pairs.jsonl", toy_pairs(60))
    recipe = {"name": name, "task": "generate", "language": "zh",
              "data": {"path": str(data), "input_column": "content", "output_column": "summary",
                       "attributes": True, "test": 8},
              "model": {"backbone": backbone, "template": "写文案：{input}", "max_prompt_tokens": 64,
                        "max_target_tokens": 48, "adapter": {"method": "lora", "r": 4}},
              "training": {"epochs": 2, "batch_size": 8, "micro_batch_size": 4, "learning_rate": 5e-3,
                           "device": "cpu"},
              "generation": {"max_new_tokens": 24},
              "evaluation": {"baselines": ["retrieval"], "batch_size": 4},
              "output": {"dir": str(folder / "runs" / name)}}
    for key, value in over.items():
        recipe[key] = {**recipe.get(key, {}), **value} if isinstance(value, dict) else value
    return recipe
