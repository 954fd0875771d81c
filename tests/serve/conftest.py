"""Tiny trained runs shared by the serve tests (trained once per session, a few seconds each)."""
from __future__ import annotations

import time

import pandas as pd
import pytest

import ecomtune
from tests.conftest import classify_recipe, toy_products, toy_reviews


@pytest.fixture(scope="session")
def classify_run(tiny_encoder, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("serve-classify")
    toy_reviews().to_csv(tmp / "reviews.csv", index=False)
    recipe = classify_recipe(tmp / "reviews.csv", tiny_encoder, tmp, epochs=2)
    recipe["evaluation"] = {"baseline": False}
    recipe["name"] = "sentiment"
    return ecomtune.train(recipe)


@pytest.fixture(scope="session")
def taxonomy_run(tiny_encoder, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("serve-taxonomy")
    toy_products().to_csv(tmp / "products.csv", index=False)
    return ecomtune.train({
        "name": "category", "task": "taxonomy",
        "data": {"train": str(tmp / "products.csv"), "text_column": "title", "path_column": "path"},
        "model": {"backbone": tiny_encoder, "max_length": 24},
        "training": {"epochs": 2, "batch_size": 16, "learning_rate": 3e-3, "precision": "fp32"},
        "output": {"dir": str(tmp / "run")}})


def wait_ready(client, timeout: float = 30.0):
    """Poll /readyz until the models are warm (they load in the background after start-up)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        response = client.get("/readyz")
        if response.status_code == 200:
            return response.json()
        assert response.json()["status"] == "loading", response.json()
        time.sleep(0.02)
    raise AssertionError("the service did not become ready")


@pytest.fixture(scope="session")
def multitask_run(tiny_encoder, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("serve-multitask")
    frame = toy_reviews()
    frame["sku"] = [f"group{i % 3}" for i in range(len(frame))]
    frame.to_csv(tmp / "reviews.csv", index=False)
    recipe = classify_recipe(tmp / "reviews.csv", tiny_encoder, tmp, epochs=1)
    recipe.update(name="aspects", task="multitask", evaluation={"baseline": False})
    recipe["data"].pop("label_column")
    recipe["data"]["label_columns"] = ["stars", "sku"]
    return ecomtune.train(recipe)


@pytest.fixture(scope="session")
def profile_rec_run(tiny_encoder, tmp_path_factory):
    """A two_tower recommender with user profile text (so `profiles` reach a tokenizer), trained briefly."""
    from tests.tasks.recommend.conftest import rec_recipe, toy_items, toy_sequences

    tmp = tmp_path_factory.mktemp("serve-recommend")
    (tmp / "seqs.txt").write_text("".join(f"u{u} {' '.join(s)}\n" for u, s in enumerate(toy_sequences(60))))
    (tmp / "users.csv").write_text("user_id,profile\n" + "".join(f"u{u},{'Men' if u % 2 else 'Women'} {u}\n"
                                                                  for u in range(60)))
    toy_items().to_csv(tmp / "items.csv", index=False)
    recipe = rec_recipe({"sequences": tmp / "seqs.txt", "items": tmp / "items.csv", "dir": tmp},
                        {"type": "two_tower", "text_encoder": tiny_encoder, "hidden": 16},
                        epochs=1, evaluate_every=1, negatives=4)
    recipe.update(name="next-item")
    recipe["data"]["users"] = str(tmp / "users.csv")
    return ecomtune.train(recipe)


@pytest.fixture(scope="session")
def search_run(tiny_encoder, tmp_path_factory):
    """A bi-encoder + re-ranker over 20 product titles, one epoch each."""
    tmp = tmp_path_factory.mktemp("serve-search")
    titles = [f"{c} {t} {i}" for i, (c, t) in enumerate((c, t) for c in ["red", "blue", "black", "white", "green"]
                                                       for t in ["shirt", "dress", "shoes", "jeans"])]
    rows = [{"query": t.rsplit(" ", 1)[0], "product": t, "label": "E"} for t in titles]
    rows += [{"query": t.rsplit(" ", 1)[0], "product": titles[(i + 1) % 20], "label": "I"} for i, t in enumerate(titles)]
    pd.DataFrame(rows).to_csv(tmp / "judged.csv", index=False)
    return ecomtune.train({
        "name": "finder", "task": "search",
        "data": {"format": "judgments", "judgments": str(tmp / "judged.csv"), "product_column": "product",
                 "label_column": "label", "test": 0.25},
        "model": {"backbone": tiny_encoder, "max_length": 16, "query_max_length": 16, "rerank_top": 5},
        "training": {"epochs": 1, "batch_size": 8, "learning_rate": 1e-3, "mine_top": 4, "device": "cpu",
                     "reranker": {"batch_size": 8, "negatives": 2, "learning_rate": 1e-3}},
        "evaluation": {"ndcg_k": [5], "recall_k": [5]},
        "output": {"dir": str(tmp / "run")}})
