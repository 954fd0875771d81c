"""Toy interactions that a tiny model can learn: every user walks the catalogue in steps of +1."""
from __future__ import annotations

import random
from pathlib import Path

import pandas as pd
import pytest

BRANDS, GENDERS = ["Nike", "Puma", "Levis", "Zara"], ["Men", "Women"]
ARTICLES = ["Shirts", "Tshirts", "Jeans", "Sneakers", "Flip Flops"]
N_ITEMS = 30


def toy_items() -> pd.DataFrame:
    return pd.DataFrame([{"item_id": f"i{i}", "title": f"{BRANDS[i % 4]} {GENDERS[i % 2]} {ARTICLES[i % 5]} {i}"}
                         for i in range(1, N_ITEMS + 1)])


def toy_sequences(users: int = 240, seed: int = 0) -> list[list[str]]:
    rng = random.Random(seed)
    out = []
    for _ in range(users):
        start, length = rng.randrange(1, N_ITEMS + 1), rng.randrange(5, 10)
        out.append([f"i{(start + j - 1) % N_ITEMS + 1}" for j in range(length)])
    return out


@pytest.fixture
def toy_rec(tmp_path) -> dict:
    seqs = toy_sequences()
    (tmp_path / "seqs.txt").write_text("".join(f"u{u} {' '.join(s)}\n" for u, s in enumerate(seqs)))
    toy_items().to_csv(tmp_path / "items.csv", index=False)
    return {"sequences": tmp_path / "seqs.txt", "items": tmp_path / "items.csv", "seqs": seqs, "dir": tmp_path}


def rec_recipe(toy: dict, model: dict, **training) -> dict:
    return {"name": "toy-rec", "task": "recommend",
            "data": {"interactions": str(toy["sequences"]), "items": str(toy["items"]), "max_history": 8},
            "model": {"hidden": 16, "heads": 2, "layers": 1, "dropout": 0.1, "text_max_length": 12, **model},
            "training": {"epochs": 12, "batch_size": 32, "learning_rate": 1e-2, "patience": None,
                         "evaluate_every": 4, "device": "cpu", **training},
            "evaluation": {"ks": [1, 5, 10]},
            "output": {"dir": str(Path(toy["dir"]) / f"run-{model['type']}-{model.get('item_embedding', '')}")}}
