"""Search relevance: metrics against hand-computed values, loaders (ESCI, WANDS, bad rows), the fashion relevance
set's construction, and train -> run dir -> SearchEngine -> CLI -> /v1/search on a tiny random BERT."""
from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
from fastapi.testclient import TestClient

import ecomtune
from ecomtune.errors import DataError, RecipeError, RunDirError
from ecomtune.recipes.loader import load_recipe
from ecomtune.tasks.search.data import (
    ESCI_GAINS,
    load_search_data,
    read_judgments,
    read_query_classes,
)
from ecomtune.tasks.search.metrics import Judgments, class_metrics, ndcg, rank_metrics
from ecomtune.tasks.search.recipe import SearchRecipe
from ecomtune.tasks.search.relevance import ATTRIBUTES, build_relevance_set, render

# --- metrics -----------------------------------------------------------------------------------------------------


def test_ndcg_mrr_recall_match_hand_computed_values():
    judged = Judgments(np.array([10, 11, 12, 13]), np.array([3.0, 2.0, 2.0, 1.0]), relevant_min=2)
    ranking = [10, 99, 12, 13, 11]  # gains 3, 0, 2, 1, 2
    idcg3 = 3 + 2 / math.log2(3) + 2 / 2
    assert ndcg([3, 0, 2, 1, 2], judged.gains, 3) == pytest.approx((3 + 0 + 2 / 2) / idcg3)
    second = Judgments(np.array([5]), np.array([1.0]), relevant_min=1)  # found at rank 2
    m = rank_metrics([ranking, [7, 5, 8, 9, 10]], [judged, second], ndcg_k=[3], recall_k=[3])
    assert m["ndcg@3"] == pytest.approx(round(((4 / idcg3) + (1 / math.log2(3))) / 2, 4))
    assert m["mrr"] == pytest.approx((1 + 0.5) / 2)
    assert m["recall@3"] == pytest.approx(round((2 / 3 + 1) / 2, 4))
    assert m["queries"] == 2


def test_unretrieved_relevant_products_lower_ndcg_and_empty_queries_are_skipped():
    judged = Judgments(np.array([1, 2]), np.array([1.0, 1.0]))
    assert rank_metrics([[1, 3]], [judged], [2], [2])["ndcg@2"] == pytest.approx(round(1 / (1 + 1 / math.log2(3)), 4))
    none = Judgments(np.zeros(0, np.int64), np.zeros(0))
    m = rank_metrics([[1, 3], [1, 2]], [none, judged], [2], [2])
    assert m["queries_skipped"] == 1 and m["ndcg@2"] == 1.0
    assert class_metrics(np.array([[0, 1, 2], [2, 1, 0]]), [1, 2]) == {"accuracy": 0.5, "top3_accuracy": 1.0}


# --- loaders -----------------------------------------------------------------------------------------------------


def esci(tmp_path, labels=("E", "S", "C", "I")):
    products = pd.DataFrame({"product_id": ["p1", "p2", "p3", "p4"],
                             "product_title": ["red running shoe", "blue shirt", "shoe laces", "coffee mug"]})
    rows = pd.DataFrame({"query_id": [1, 1, 1, 1], "query": ["running shoes"] * 4,
                         "product_id": ["p1", "p2", "p3", "p4"], "esci_label": list(labels)})
    products.to_csv(tmp_path / "products.csv", index=False)
    rows.to_csv(tmp_path / "judgments.csv", index=False)
    return tmp_path / "judgments.csv", tmp_path / "products.csv"


def test_esci_letters_become_gains(tmp_path):
    judgments, products = esci(tmp_path, ("E", "substitute", "C", "I"))
    ids, texts, judged = read_judgments(str(judgments), products=str(products))
    assert ids == ["p1", "p2", "p3", "p4"] and texts[0] == "red running shoe"
    assert judged.sort_values("row")["gain"].tolist() == [ESCI_GAINS[x] for x in "ESCI"] == [3, 2, 1, 0]


def test_bad_label_and_unknown_product_name_line_and_column(tmp_path):
    judgments, products = esci(tmp_path, ("E", "S", "maybe", "I"))
    with pytest.raises(DataError, match=r"judgments.csv: line 4, column `esci_label`: label 'maybe'"):
        read_judgments(str(judgments), products=str(products))
    frame = pd.read_csv(judgments)
    frame.loc[2, "esci_label"] = "C"
    frame.loc[1, "product_id"] = "p9"
    frame.to_csv(judgments, index=False)
    with pytest.raises(DataError, match=r"line 3, column `product_id`: product 'p9' is not in"):
        read_judgments(str(judgments), products=str(products))


def test_wands_layout_tab_separated_csv_and_empty_class(tmp_path):
    path = tmp_path / "query.csv"  # WANDS ships TAB-separated text named .csv
    path.write_text("query_id\tquery\tquery_class\n0\tsalon chair\tMassage Chairs\n1\tsmart coffee table\t\n"
                    "2\tturquoise pillows\tAccent Pillows\n", encoding="utf-8")
    with pytest.raises(DataError, match=r"query.csv: line 3, column `query_class`: empty value.*bad_rows: drop"):
        read_query_classes(str(path))
    queries, classes = read_query_classes(str(path), bad_rows="drop")
    assert queries == ["salon chair", "turquoise pillows"] and classes == ["Massage Chairs", "Accent Pillows"]


# --- the fashion relevance set -----------------------------------------------------------------------------------


def toy_catalogue(n: int = 600, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    values = {"gender": ["Men", "Women", "Boys"], "baseColour": ["Black", "Navy Blue", "Red", "White", "NA"],
              "articleType": ["Shirts", "Tshirts", "Jeans", "Watches", "Heels"], "usage": ["Casual", "Formal"]}
    rows = {a: rng.choice(v, n) for a, v in values.items()}
    frame = pd.DataFrame(rows)
    frame["id"] = [str(i) for i in range(n)]
    frame["productDisplayName"] = [f"Brand{i % 7} {g} {c} {t}" for i, (g, c, t) in
                                   enumerate(zip(frame.gender, frame.baseColour, frame.articleType))]
    return frame


def test_relevance_set_splits_combinations_and_grades_by_attributes():
    frame = toy_catalogue()
    data = build_relevance_set(frame, train_queries=200, eval_queries=40, eval_fraction=0.3, seed=1)
    train_keys, eval_keys = set(data.keys["train"]), set(data.keys["eval"])
    assert eval_keys and train_keys and not train_keys & eval_keys  # no eval combination is trained on
    assert len(data.train) == 200
    for i, key in enumerate(data.keys["eval"]):
        named = dict(key)
        assert "articleType" in named and all(v != "NA" for v in named.values())
        truth = np.array([sum(row[a] == v for a, v in named.items()) if row["articleType"] == named["articleType"]
                          else 0 for _, row in frame.iterrows()], dtype=float)
        judged = data.test.judged(i)  # complete: every product with gain > 0
        assert np.array_equal(judged.rows, np.flatnonzero(truth > 0))
        assert np.array_equal(judged.gains, truth[truth > 0])
        assert judged.relevant_min == len(named)
        assert np.array_equal(data.test.positives[i], np.flatnonzero(truth == len(named)))
        assert len(data.test.positives[i]) >= 1  # every key comes from a real product
        if i >= 10:
            break
    assert set(data.ids) == set(frame["id"]) and data.texts[0] == frame["productDisplayName"][0]


def test_render_names_exactly_the_key_attributes():
    import random

    rng = random.Random(0)
    texts = {render({"articleType": "Shirts", "gender": "Men", "baseColour": "Navy Blue"}, rng) for _ in range(30)}
    assert all("navy blue" in t and ("shirt" in t) and "men" in t for t in texts) and len(texts) > 3
    assert all(a in toy_catalogue().columns for a in ATTRIBUTES)


# --- recipe ------------------------------------------------------------------------------------------------------


def test_recipe_errors_name_the_key():
    with pytest.raises(RecipeError, match=r"`data.catalogue` is required for `data.format: attributes`"):
        load_recipe({"name": "s", "task": "search", "data": {"format": "attributes"}})
    with pytest.raises(RecipeError, match=r"unknown key `model.rerank` — did you mean `model.reranker`"):
        load_recipe({"name": "s", "task": "search", "data": {"format": "query-classes", "queries": "q.csv"},
                     "model": {"rerank": True}})


@pytest.mark.parametrize("name", ["search-fashion", "query-class-wands"])
def test_search_presets_load(name):
    recipe = load_recipe(name)
    assert isinstance(recipe, SearchRecipe) and recipe.name == name


# --- train -> run dir -> engine -> CLI -> service ----------------------------------------------------------------

TITLES = [f"{c} {t} {i}" for i, (c, t) in enumerate(
    (c, t) for c in ["red", "blue", "black", "white", "green"] for t in ["shirt", "dress", "shoes", "jeans"])]


@pytest.fixture(scope="module")
def search_run(tiny_encoder, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("search")
    rows = [{"query": f"{t.rsplit(' ', 1)[0]} {i}", "product": t, "label": "E"} for i, t in enumerate(TITLES)]
    rows += [{"query": f"{t.rsplit(' ', 1)[0]} {i}", "product": TITLES[(i + 1) % len(TITLES)], "label": "I"}
             for i, t in enumerate(TITLES)]
    pd.DataFrame(rows).to_csv(tmp / "judged.csv", index=False)
    recipe = {"name": "toy-search", "task": "search",
              "data": {"format": "judgments", "judgments": str(tmp / "judged.csv"), "product_column": "product",
                       "label_column": "label", "test": 0.25},
              "model": {"backbone": tiny_encoder, "max_length": 16, "query_max_length": 16, "rerank_top": 5},
              "training": {"epochs": 2, "batch_size": 8, "learning_rate": 1e-3, "mine_top": 4, "device": "cpu",
                           "reranker": {"batch_size": 8, "negatives": 2, "learning_rate": 1e-3}},
              "evaluation": {"ndcg_k": [5], "recall_k": [5, 10]},
              "output": {"dir": str(tmp / "run")}}
    return ecomtune.train(recipe), recipe


def test_run_directory_is_portable_and_complete(search_run):
    run, recipe = search_run
    manifest = json.loads((run / "manifest.json").read_text())
    assert manifest["task"] == "search" and manifest["format_version"] >= 1
    for part in ("model/biencoder/config.json", "model/crossencoder/head.safetensors", "catalogue.jsonl",
                 "embeddings.safetensors", "README.md"):
        assert (run / part).is_file(), part
    test = manifest["metrics"]["test"]
    assert {"ndcg@5", "mrr", "recall@5", "recall@10", "rerank_ndcg@5"} <= set(test)
    assert 0 <= test["ndcg@5"] <= 1 and test["queries"] == 5
    assert {"bm25", "base"} <= set(manifest["baselines"])
    files = [manifest["model"]["biencoder"], manifest["model"]["crossencoder"], *manifest["catalogue"].values()]
    assert all(not str(f).startswith("/") for f in files if isinstance(f, str))  # relative paths only
    with pytest.raises(RunDirError, match="already exists — pass --overwrite"):
        ecomtune.train(recipe)


def test_engine_finds_the_obvious_product_and_adds_products(search_run):
    run, _ = search_run
    engine = ecomtune.load(run, device="cpu")
    hits = engine.search(TITLES[6], k=3)
    assert hits[0]["text"] == TITLES[6] and hits[0]["score"] == pytest.approx(1.0, abs=1e-4)
    assert [h["score"] for h in hits] == sorted((h["score"] for h in hits), reverse=True)
    reranked = engine.search([TITLES[2], TITLES[3]], k=4, rerank=True)
    assert len(reranked) == 2 and len(reranked[0]) == 4
    size = engine.add_products(["new-1"], ["zebra umbrella"])
    assert size == len(TITLES) + 1 and engine.search("zebra umbrella", k=1)[0]["id"] == "new-1"
    with pytest.raises(ecomtune.errors.EcomtuneError, match="already in the catalogue"):
        engine.add_products(["new-1"], ["again"])
    metrics = ecomtune.evaluate(run, device="cpu")
    assert metrics["ndcg@5"] == json.loads((run / "manifest.json").read_text())["metrics"]["test"]["ndcg@5"]


def test_cli_search(search_run):
    from typer.testing import CliRunner

    from ecomtune.cli.app import app
    from ecomtune.cli.main import _register

    run, _ = search_run
    _register()
    result = CliRunner().invoke(app, ["search", str(run), "-q", TITLES[0], "-q", TITLES[5], "-k", "2", "--json",
                                      "--device", "cpu"])
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert [r["query"] for r in out] == [TITLES[0], TITLES[5]] and out[1]["results"][0]["text"] == TITLES[5]
    table = CliRunner().invoke(app, ["search", str(run), "-q", TITLES[1], "-k", "1"])
    assert table.exit_code == 0, table.output


def test_search_endpoint(search_run):
    from ecomtune.deploy.serve import create_app
    from tests.serve.conftest import wait_ready

    run, _ = search_run
    with TestClient(create_app([run], {"max_items": 4, "max_text_chars": 50})) as client:
        wait_ready(client)
        r = client.post("/v1/search", json={"queries": [TITLES[7], TITLES[7]], "k": 3})
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["model"] == "toy-search" and body["task"] == "search" and not body["reranked"]
        assert body["searches"][0]["results"][0]["text"] == TITLES[7]
        again = client.post("/v1/search", json={"queries": [TITLES[7]], "k": 3, "rerank": True}).json()
        assert again["searches"][0]["cached"] is True and len(again["searches"][0]["results"]) == 3
        empty = client.post("/v1/search", json={"queries": ["ok", " "]})
        assert empty.status_code == 422 and empty.json()["detail"].startswith("queries[1]: empty query")
        assert client.post("/v1/search", json={"queries": []}).status_code == 422
        assert client.post("/v1/search", json={"queries": ["x"], "k": 0}).status_code == 422
        assert client.post("/v1/search", json={"queries": ["x"], "model": "nope"}).status_code == 404


@pytest.mark.shared_data
def test_real_wands_and_fashion_catalogue(shared_data):
    queries, classes = read_query_classes(str(shared_data / "wands_queries" / "query.csv"), bad_rows="drop")
    assert len(queries) == 474 and len(set(classes)) == 188
    recipe = load_recipe({"name": "w", "task": "search",
                          "data": {"format": "query-classes", "bad_rows": "drop",
                                   "queries": str(shared_data / "wands_queries" / "query.csv")}})
    data = load_search_data(recipe.data)
    assert len(data.test) == round(474 * 0.2) and len(data.texts) == 188
    frame = pd.read_csv(shared_data / "fashion_product_styles" / "styles.csv", dtype=str, keep_default_na=False,
                        nrows=5000)
    fashion = build_relevance_set(frame, train_queries=100, eval_queries=50)
    assert not set(fashion.keys["train"]) & set(fashion.keys["eval"]) and len(fashion.test) == 50


# --- cost, baseline, resume --------------------------------------------------------------------------------------


def test_manifest_reports_the_common_cost_and_the_bm25_baseline(search_run):
    from ecomtune.rundir import COST_FIELDS
    from ecomtune.tasks.search.train import baseline

    run, recipe = search_run
    manifest = json.loads((run / "manifest.json").read_text())
    cost = manifest["cost"]
    assert set(COST_FIELDS) <= set(cost) and cost["device"] == "cpu"
    # bi-encoder: 15 queries / 8; re-ranker: 3 of 15 held out to tune its weight, 12 groups of 3 pairs, 2 a step
    assert cost["steps"] == cost["biencoder_steps"] + cost["reranker_steps"] == 2 + 6
    assert manifest["model"]["rerank_weight"] in [w / 10 for w in range(11)]
    assert set(manifest["model"]["rerank_weight_validation"]) == {str(w / 10) for w in range(11)}
    assert cost["total_params"] >= cost["trainable_params"] > 0 and cost["inference_samples_per_second"] > 0
    assert cost["train_seconds"] >= cost["biencoder_train_seconds"] and cost["peak_memory_mb"] > 0
    assert manifest["baseline"]["name"] == "bm25"
    assert manifest["baseline"]["metrics"]["test"] == manifest["baselines"]["bm25"]
    again = baseline(load_recipe(recipe))
    assert again["metrics"] == manifest["baseline"]["metrics"] and "others" not in again


def qc_recipe(tmp_path, encoder, name: str) -> dict:
    """Query -> class data: 48 training queries, 4 per step = 12 steps per epoch; the re-ranker 18 per epoch."""
    path = tmp_path / "queries.csv"
    classes, colours = ["shirt", "dress", "shoes", "jeans"], ["red", "blue", "black", "white", "green"] * 3
    pd.DataFrame({"query": [f"{c} {col} {i}" for i, (c, col) in enumerate((c, col) for c in classes for col in colours)],
                  "query_class": [c for c in classes for _ in colours]}).to_csv(path, index=False)
    return {"name": name, "task": "search", "data": {"format": "query-classes", "queries": str(path)},
            "model": {"backbone": encoder, "max_length": 16, "query_max_length": 16, "rerank_top": 3},
            "training": {"epochs": 3, "batch_size": 4, "learning_rate": 1e-3, "mine_top": 2, "device": "cpu",
                         "reranker": {"batch_size": 8, "negatives": 2, "epochs": 2, "learning_rate": 1e-3,
                                      "loss": "pointwise", "validation_queries": 0}},
            "evaluation": {"ndcg_k": [3], "recall_k": [3]}, "output": {"dir": str(tmp_path / name)}}


def test_interrupted_search_run_resumes_to_the_same_result(tiny_encoder, tmp_path, monkeypatch):
    from ecomtune.training import steps

    whole = json.loads((ecomtune.train(qc_recipe(tmp_path, tiny_encoder, "whole")) / "manifest.json").read_text())
    original, calls = steps.train_step, {"n": 0, "cut": None}

    def step(*args):
        calls["n"] += 1
        if calls["n"] == calls["cut"]:
            raise RuntimeError("simulated power cut")
        original(*args)

    monkeypatch.setattr(steps, "train_step", step)
    recipe = qc_recipe(tmp_path, tiny_encoder, "cut")
    checkpoints = tmp_path / "cut" / "checkpoints"
    calls["cut"] = 15  # bi-encoder step 15: its last checkpoint is the end of epoch 1
    with pytest.raises(RuntimeError, match="power cut"):
        ecomtune.train(recipe)
    assert json.loads((checkpoints / "biencoder" / "state.json").read_text())["step"] == 12
    calls["n"], calls["cut"] = 0, 24 + 20  # steps 13-36 of the bi-encoder, then re-ranker step 20
    with pytest.raises(RuntimeError, match="power cut"):
        ecomtune.train(recipe, resume=True)
    assert json.loads((checkpoints / "biencoder" / "state.json").read_text())["step"] == 36
    assert json.loads((checkpoints / "reranker" / "state.json").read_text())["step"] == 18
    calls["n"], calls["cut"] = 0, None
    run = ecomtune.train(recipe, resume=True)
    assert calls["n"] == 18  # only the re-ranker's last 18 steps ran
    resumed = json.loads((run / "manifest.json").read_text())
    assert resumed["metrics"] == whole["metrics"] and resumed["history"] == whole["history"]
    assert resumed["cost"]["steps"] == whole["cost"]["steps"] == 36 + 36
    assert not (run / "checkpoints").exists()
    assert ecomtune.evaluate(run, device="cpu")["ndcg@3"] == resumed["metrics"]["test"]["ndcg@3"]
