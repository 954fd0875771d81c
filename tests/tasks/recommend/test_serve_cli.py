"""`ecomtune train/recommend/evaluate` as a user runs them, and POST /v1/recommend through the service."""
import json

import pytest
import yaml
from fastapi.testclient import TestClient

import ecomtune
from tests.cli.test_cli import ecomtune as cli
from tests.serve.conftest import wait_ready

from .conftest import rec_recipe, toy_items, toy_sequences


@pytest.fixture(scope="module")
def text_run(tmp_path_factory, tiny_encoder):
    tmp = tmp_path_factory.mktemp("rec-serve")
    (tmp / "seqs.txt").write_text("".join(f"u{u} {' '.join(s)}\n" for u, s in enumerate(toy_sequences())))
    toy_items().to_csv(tmp / "items.csv", index=False)
    toy = {"sequences": tmp / "seqs.txt", "items": tmp / "items.csv", "dir": tmp}
    recipe = rec_recipe(toy, {"type": "sasrec", "item_embedding": "text+id", "text_encoder": tiny_encoder})
    recipe["name"] = "next-item"
    return ecomtune.train(recipe)


def test_cli_train_recommend_evaluate(tmp_path, toy_rec):
    recipe = rec_recipe(toy_rec, {"type": "sasrec"}, epochs=6, evaluate_every=3)
    path = tmp_path / "rec.yaml"
    recipe["data"]["interactions"] = "seqs.txt"  # relative to the recipe file
    recipe["data"].pop("items")
    path.write_text(yaml.safe_dump(recipe))
    (tmp_path / "seqs.txt").write_text(toy_rec["sequences"].read_text())
    out = cli("train", path)
    assert "hr@10" in out.stderr + out.stdout
    run = recipe["output"]["dir"]
    top = json.loads(cli("recommend", run, "--user-history", "i10,i11", "--k", "3", "--json").stdout)
    assert len(top) == 3 and top[0]["item"] == "i12"
    metrics = tmp_path / "m.json"
    cli("evaluate", run, "--json", metrics)
    assert json.loads(metrics.read_text())["rows"] == 240
    bad = cli("recommend", run, "--user-history", "nope", check=False)
    assert bad.returncode == 2 and "unknown item 'nope'" in bad.stderr


def test_cli_adds_new_items_from_a_table(text_run, tmp_path):
    new = tmp_path / "new.csv"
    new.write_text("item_id,title\nn1,Nike Men Shirts brand new\n")
    out = cli("recommend", text_run, "-u", "i1,i2", "--k", "31", "--add-items", new, "--json")
    assert "n1" in {r["item"] for r in json.loads(out.stdout)}


def test_v1_recommend(text_run):
    app = ecomtune.create_app([text_run], {"max_items": 4})
    with TestClient(app) as client:
        wait_ready(client)
        body = {"histories": [["i4", "i5", "i6"], ["i20"]], "k": 3}
        first = client.post("/v1/recommend", json=body)
        assert first.status_code == 200, first.text
        recs = first.json()["recommendations"]
        assert len(recs) == 2 and len(recs[0]["items"]) == 3 and not recs[0]["cached"]
        assert not {"i4", "i5", "i6"} & {r["item"] for r in recs[0]["items"]}
        direct = ecomtune.load(text_run).recommend(["i4", "i5", "i6"], k=3)
        assert [r["item"] for r in recs[0]["items"]] == [r["item"] for r in direct]
        again = client.post("/v1/recommend", json=body).json()["recommendations"]
        assert again[0]["cached"] and again[0]["items"] == recs[0]["items"]  # the user-vector cache
        bad = client.post("/v1/recommend", json={"histories": [["i1", "zzz"]]})
        assert bad.status_code == 422 and bad.json()["detail"].startswith("histories[0][1]: unknown item 'zzz'")
        assert client.post("/v1/recommend", json={"histories": []}).status_code == 422
        assert client.post("/v1/recommend", json={"histories": [["i1"]] * 5}).status_code == 422
        assert client.post("/v1/recommend", json={"histories": "i1"}).status_code == 422
        models = client.get("/v1/models").json()["models"]
        assert models[0]["endpoint"] == "/v1/recommend" and models[0]["labels"] is None
        assert client.post("/v1/classify", json={"texts": ["x"]}).status_code == 404
        assert "ecomtune_cache_hits_total" in client.get("/metrics").text
