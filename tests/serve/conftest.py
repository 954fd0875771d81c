"""Tiny trained runs shared by the serve tests (trained once per session, a few seconds each)."""
from __future__ import annotations

import time

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
