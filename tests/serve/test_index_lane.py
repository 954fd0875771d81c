"""Search and recommend requests search the vector index in the model's micro-batches (`ServingState.lookup`), on
its inference thread, one index search per batch, instead of a pool thread each (issue 17's tail: see service.py);
the recommender computes its item matrix once."""
from __future__ import annotations

import re
import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np
from fastapi.testclient import TestClient

import ecomtune
from ecomtune.retrieval.index import build_index, search_each
from ecomtune.tasks.recommend.batching import left_pad
from tests.serve.conftest import wait_ready


def _batched(metrics: str, model: str) -> float:
    """Items (texts and index lookups) the inference worker of `model` ran, from /metrics."""
    found = re.search(rf'ecomtune_batch_size_sum{{model="{re.escape(model)}@[^"]*"}} (\S+)', metrics)
    return float(found.group(1)) if found else 0.0


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
        before = _batched(client.get("/metrics").text, "finder")

        def one(q):
            r = client.post("/v1/search", json={"queries": [q], "k": 3})
            assert r.status_code == 200, r.text
            return [h["id"] for h in r.json()["searches"][0]["results"]]

        pools = {t.name for t in threading.enumerate()}
        with ThreadPoolExecutor(8) as pool:
            got = list(pool.map(one, queries))
        # one embedding and one index lookup per query, both on the inference worker (no cache)
        assert _batched(client.get("/metrics").text, "finder") - before == 2 * len(queries)
        assert not {t.name for t in threading.enumerate()} - pools  # no thread was started for the searches
        assert got == [[h["id"] for h in engine.search(q, k=3)] for q in queries]  # the same as in process
        reranked = client.post("/v1/search", json={"queries": [queries[0]], "k": 2, "rerank": True}).json()
        assert [h["id"] for h in reranked["searches"][0]["results"]] == \
            [h["id"] for h in engine.search(queries[0], k=2, rerank=True)]


def test_concurrent_recommendations_go_through_the_index_thread(profile_rec_run):
    rec = ecomtune.load(profile_rec_run, device="cpu")
    histories = [[rec.item_ids[i], rec.item_ids[i + 1]] for i in range(1, 11)]
    with TestClient(ecomtune.create_app([profile_rec_run], {"cache_size": 0})) as client:
        wait_ready(client)
        before = _batched(client.get("/metrics").text, "next-item")

        def one(h):
            r = client.post("/v1/recommend", json={"histories": [h], "k": 4})
            assert r.status_code == 200, r.text
            return [i["item"] for i in r.json()["recommendations"][0]["items"]]

        with ThreadPoolExecutor(8) as pool:
            got = list(pool.map(one, histories))
        assert _batched(client.get("/metrics").text, "next-item") - before == 2 * len(histories)
        assert got == [[i["item"] for i in rec.recommend(h, k=4)] for h in histories]  # history left out too
        assert all(not set(h) & set(g) for h, g in zip(histories, got))


def test_item_vectors_are_computed_once_and_give_the_same_user_vectors(profile_rec_run):
    import torch

    rec = ecomtune.load(profile_rec_run, device="cpu")
    real, calls = rec.model.item_matrix, []

    def counted():
        calls.append(1)
        return real()

    rec.model.item_matrix = counted
    histories = [rec.positions([rec.item_ids[i], rec.item_ids[i + 1]]) for i in range(1, 6)]
    first = rec.user_vectors(histories)
    again = rec.user_vectors(histories[:2])
    assert len(calls) == 1 and np.allclose(first[:2], again, atol=1e-6)
    with torch.inference_mode():  # the model computing its item matrix itself: the same vectors
        direct = rec.model.user_vectors(left_pad(histories, rec.model.max_history)).float().numpy()
    assert np.allclose(first, direct, atol=1e-5)


def test_what_loading_left_is_frozen_out_of_the_garbage_collector(search_run):
    import gc

    gc.unfreeze()
    try:
        with TestClient(ecomtune.create_app([search_run])) as client:
            wait_ready(client)
            assert gc.get_freeze_count() > 10_000  # modules, models: not re-scanned by each full collection
    finally:
        gc.unfreeze()
