"""Generation fixtures: toy attribute -> copy pairs whose copy follows the attributes, so a few steps of training
move the metrics (the tiny chat LM is `tiny_chat_lm` in tests/conftest.py)."""
from __future__ import annotations

import json
import random
from pathlib import Path

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
