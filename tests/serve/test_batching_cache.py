"""The micro-batcher and the LRU cache on their own, with a fake model (fast, deterministic)."""
from __future__ import annotations

import asyncio
import threading
import time

import numpy as np
import pytest

from ecomtune.deploy.serve.batching import MicroBatcher
from ecomtune.deploy.serve.cache import LRUCache
from ecomtune.deploy.serve.settings import ServeError, ServeSettings


class FakeModel:
    """One result per text: (the text as an int, its probabilities [1 - x/100, x/100]); records each call's size."""

    def __init__(self, fail_on: str | None = None):
        self.calls: list[list[str]] = []
        self.fail_on = fail_on

    def __call__(self, texts):
        self.calls.append(list(texts))
        if self.fail_on in texts:
            raise RuntimeError(f"cannot read {self.fail_on}")
        if "99" in texts:  # a slow batch: later requests queue up behind it
            time.sleep(0.2)
        return [(int(t), np.array([1 - int(t) / 100, int(t) / 100], dtype=np.float32)) for t in texts]


def run(coro):
    return asyncio.run(coro)


async def _submit_all(batcher, requests):
    batcher.start()
    try:
        return await asyncio.gather(*(batcher.submit(texts) for texts in requests), return_exceptions=True)
    finally:
        await batcher.stop(5)


def test_concurrent_requests_are_merged_into_one_batch_in_order():
    model = FakeModel()
    requests = [[str(i)] for i in range(10)] + [["20", "21", "22"]]
    results = run(_submit_all(MicroBatcher(model, max_batch=32, max_wait_ms=200), requests))
    assert [len(c) for c in model.calls] == [13]  # everything arrived within the wait: one forward call
    for texts, result in zip(requests, results):
        assert [pred for pred, _ in result] == [int(t) for t in texts]
        assert [probs[1] for _, probs in result] == pytest.approx([int(t) / 100 for t in texts])


def test_batches_never_exceed_max_batch_and_a_request_can_span_batches():
    model = FakeModel()
    requests = [[str(i)] for i in range(6)] + [[str(i) for i in range(30, 37)]]
    results = run(_submit_all(MicroBatcher(model, max_batch=4, max_wait_ms=100), requests))
    assert [len(c) for c in model.calls] == [4, 4, 4, 1]
    assert [pred for pred, _ in results[-1]] == list(range(30, 37))  # reassembled across three batches


def test_a_lone_client_does_not_wait_for_company_once_traffic_is_sequential():
    model = FakeModel()

    async def scenario():
        batcher = MicroBatcher(model, max_batch=32, max_wait_ms=400).start()
        await batcher.submit(["1"])  # the first batch waits: traffic might overlap
        start = time.perf_counter()
        for i in range(5):  # one request at a time: nothing to wait for
            await batcher.submit([str(i)])
        sequential = time.perf_counter() - start
        slow = asyncio.ensure_future(batcher.submit(["99"]))
        await asyncio.sleep(0.05)
        both = await asyncio.gather(batcher.submit(["8"]), batcher.submit(["9"]))  # overlap: merged again
        await slow
        await batcher.stop(5)
        return sequential, both

    sequential, both = run(scenario())
    assert sequential < 0.3  # five 400 ms waits would be 2 s
    assert [len(c) for c in model.calls] == [1] * 7 + [2] and [b[0][0] for b in both] == [8, 9]


def test_without_batching_each_request_runs_alone():
    model = FakeModel()
    requests = [["1", "2"], ["3", "4", "5"], ["6"]]
    results = run(_submit_all(MicroBatcher(model, max_batch=2, max_wait_ms=100, enabled=False), requests))
    assert sorted(len(c) for c in model.calls) == [1, 2, 3]  # whole requests, even above max_batch
    assert [pred for pred, _ in results[1]] == [3, 4, 5]


def test_a_failing_batch_fails_its_requests_and_the_worker_keeps_serving():
    model = FakeModel(fail_on="13")
    errors = []
    batcher = MicroBatcher(model, max_batch=8, max_wait_ms=1, on_error=errors.append)

    async def scenario():
        batcher.start()
        with pytest.raises(RuntimeError, match="cannot read 13"):
            await batcher.submit(["13"])
        result = await batcher.submit(["7"])
        await batcher.stop(5)
        return result

    assert [pred for pred, _ in run(scenario())] == [7]
    assert len(errors) == 1


def test_stop_drains_queued_texts_without_waiting_out_max_wait():
    model = FakeModel()
    batcher = MicroBatcher(model, max_batch=100, max_wait_ms=60_000)
    sizes = []
    batcher.on_batch = lambda n, seconds: sizes.append(n)

    async def scenario():
        batcher.start()
        pending = [asyncio.ensure_future(batcher.submit([str(i)])) for i in range(5)]
        await asyncio.sleep(0.05)
        assert batcher.depth == 5  # waiting for more texts (60 s)
        assert await asyncio.wait_for(batcher.stop(5), 5)
        with pytest.raises(RuntimeError, match="not running"):
            await batcher.submit(["1"])
        return await asyncio.gather(*pending)

    results = run(scenario())
    assert [r[0][0] for r in results] == [0, 1, 2, 3, 4]
    assert sizes == [5]


def test_a_bad_text_in_a_merged_batch_fails_only_its_own_request():
    model = FakeModel(fail_on="13")
    errors = []
    requests = [["1", "2"], ["3", "13"], ["4"], ["5", "6"]]
    results = run(_submit_all(MicroBatcher(model, max_batch=32, max_wait_ms=200, on_error=errors.append), requests))
    assert model.calls == [["1", "2", "3", "13", "4", "5", "6"], *requests]  # merged, then each request alone
    assert isinstance(results[1], RuntimeError) and "cannot read 13" in str(results[1])
    for texts, result in zip(requests, results):
        if "13" not in texts:
            assert [pred for pred, _ in result] == [int(t) for t in texts]
    assert len(errors) == 2  # the merged batch, then the request that holds "13"


def test_lru_cache_evicts_least_recently_used_and_counts():
    cache = LRUCache(2)
    cache.put("a", 1)
    cache.put("b", 2)
    assert cache.get("a") == 1  # "a" is now the most recent
    cache.put("c", 3)  # evicts "b"
    assert cache.get("b") is None and cache.get("c") == 3
    assert (cache.hits, cache.misses, len(cache)) == (2, 1, 2)
    assert cache.stats()["hit_rate"] == pytest.approx(2 / 3)
    off = LRUCache(0)
    off.put("a", 1)
    assert off.get("a") is None and (off.hits, off.misses, len(off)) == (0, 0, 0)


def test_lru_cache_is_thread_safe():
    cache = LRUCache(50)

    def hammer(seed):
        for i in range(2000):
            key = (seed * 7 + i) % 80
            if cache.get(key) is None:
                cache.put(key, key)

    threads = [threading.Thread(target=hammer, args=(s,)) for s in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(cache) == 50 and cache.hits + cache.misses == 8000
    assert all(cache.get(k) == k for k in list(cache._data))


@pytest.mark.parametrize("options, message", [
    ({"max_batch": 0}, "`max_batch` (--max-batch): Input should be greater than or equal to 1, got 0"),
    ({"cache_size": -1}, "`cache_size` (--cache-size)"),
    ({"port": 70000}, "`port` (--port)"),
    ({"max_wait_ms": "soon"}, "`max_wait_ms` (--max-wait-ms)"),
    ({"batch": 8}, "`batch` (--batch): Extra inputs are not permitted"),
])
def test_bad_settings_name_the_option(options, message):
    with pytest.raises(ServeError) as err:
        ServeSettings.build(**options)
    assert message in str(err.value)


def test_api_key_comes_from_the_environment(monkeypatch):
    monkeypatch.setenv("ECOMTUNE_API_KEY", "from-env")
    assert ServeSettings.build().api_key == "from-env"
    assert ServeSettings.build(api_key="given").api_key == "given"
    monkeypatch.delenv("ECOMTUNE_API_KEY")
    assert ServeSettings.build().api_key is None
