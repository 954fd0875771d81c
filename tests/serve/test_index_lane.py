"""Search and recommend requests search the vector index on the model's own index thread (`ServingState.lookup`),
one index search per micro-batch, instead of a pool thread each (the p99 tail of issue 17: see service.py)."""
from __future__ import annotations

import re
import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np
from fastapi.testclient import TestClient

import ecomtune
from ecomtune.retrieval.index import build_index, search_each
from tests.serve.conftest import wait_ready


def _index_batches(metrics: str, model: str) -> tuple[float, float]:
    """(items, batches) the index worker of `model` ran, from /metrics."""
    def value(kind):
        found = re.search(rf'ecomtune_batch_size_{kind}{{model="{re.escape(model)}@[^"]*/index"}} (\S+)', metrics)
        return float(found.group(1)) if found else 0.0

    return value("sum"), value("count")


def test_one_search_answers_requests_of_different_depths_as_searching_each_alone():
    rng = np.random.default_rng(0)
    index = build_index(rng.normal(size=(50, 8)).astype(np.float32))
    queries = rng.normal(size=(3, 8)).astype(np.float32)
    found = search_each(index, [(queries[0], 2), (queries[1], 7), (queries[2], 1)])
    for (scores, rows), q, depth in zip(found, queries, (2, 7, 1)):
        alone = index.search(q[None], depth)
        assert rows.tolist() == alone[1][0].tolist() and np.allclose(scores, alone[0][0])


def test_concurrent_searches_go_through_the_index_thread(search_run):
    engine = ecomtune.load(search_run, device="cpu")
    queries = [t for t in engine.texts[:12]]
    with TestClient(ecomtune.create_app([search_run], {"max_items": 4, "cache_size": 0})) as client:
        wait_ready(client)
        assert any(t.name.startswith("infer-finder@") and t.name.endswith("/index") for t in threading.enumerate())
        before = _index_batches(client.get("/metrics").text, "finder")

        def one(q):
            r = client.post("/v1/search", json={"queries": [q], "k": 3})
            assert r.status_code == 200, r.text
            return [h["id"] for h in r.json()["searches"][0]["results"]]

        with ThreadPoolExecutor(8) as pool:
            got = list(pool.map(one, queries))
        items, batches = (a - b for a, b in zip(_index_batches(client.get("/metrics").text, "finder"), before))
        assert items == len(queries) and 1 <= batches <= len(queries)
        assert got == [[h["id"] for h in engine.search(q, k=3)] for q in queries]  # the same as in process
        reranked = client.post("/v1/search", json={"queries": [queries[0]], "k": 2, "rerank": True}).json()
        assert [h["id"] for h in reranked["searches"][0]["results"]] == \
            [h["id"] for h in engine.search(queries[0], k=2, rerank=True)]


def test_concurrent_recommendations_go_through_the_index_thread(profile_rec_run):
    rec = ecomtune.load(profile_rec_run, device="cpu")
    histories = [[rec.item_ids[i], rec.item_ids[i + 1]] for i in range(1, 11)]
    with TestClient(ecomtune.create_app([profile_rec_run], {"cache_size": 0})) as client:
        wait_ready(client)
        before = _index_batches(client.get("/metrics").text, "next-item")

        def one(h):
            r = client.post("/v1/recommend", json={"histories": [h], "k": 4})
            assert r.status_code == 200, r.text
            return [i["item"] for i in r.json()["recommendations"][0]["items"]]

        with ThreadPoolExecutor(8) as pool:
            got = list(pool.map(one, histories))
        items, _ = (a - b for a, b in zip(_index_batches(client.get("/metrics").text, "next-item"), before))
        assert items == len(histories)
        assert got == [[i["item"] for i in rec.recommend(h, k=4)] for h in histories]  # history left out too
        assert all(not set(h) & set(g) for h, g in zip(histories, got))
