"""The state one app holds (settings, models, cache, metrics) and the prediction path every endpoint shares:
cache -> micro-batch the misses -> fill the cache -> feed the drift monitor; and, for models with a vector index
(search, recommend), `lookup`: the index searched on the model's inference thread, one search per micro-batch.

Why on the inference thread: the routers searched the index with `asyncio.to_thread`, on pool threads. Each
thread that runs torch has its own OpenMP team, whose idle workers spin-wait after every parallel region; a second
thread's team spinning next to the inference thread took the cores from it (a dedicated index thread, tried
first, made one query's embedding 15x slower at one client: 278 ms instead of 19 ms — 19 ms again with
`OMP_WAIT_POLICY=PASSIVE`). So lookups join the model's own micro-batches (`_Lookup` items next to the texts):
one thread, one OpenMP team per model, and the searches of a batch run as one matrix product."""
from __future__ import annotations

import asyncio
import gc
import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass


from ecomtune.deploy.serve.batching import MicroBatcher
from ecomtune.deploy.serve.cache import LRUCache
from ecomtune.deploy.serve.metrics import ServeMetrics
from ecomtune.deploy.serve.registry import (
    ModelRegistry,
    ModelSpec,
    ServedModel,
    load_served,
)
from ecomtune.deploy.serve.settings import ServeSettings

log = logging.getLogger("ecomtune.serve")


async def _in_daemon_thread(fn, *args):
    """`asyncio.to_thread` on a daemon thread: a load still running at the shutdown deadline must not hold the
    process (the default executor's threads are joined at exit)."""
    loop = asyncio.get_running_loop()
    future = loop.create_future()

    def run():
        try:
            result, error = fn(*args), None
        except BaseException as exc:  # noqa: BLE001 - raised in the awaiting task
            result, error = None, exc
        try:
            loop.call_soon_threadsafe(_settle, future, result, error)
        except RuntimeError:  # the event loop is closed: nobody is waiting any more
            pass

    threading.Thread(target=run, name="load-models", daemon=True).start()
    return await future


def _settle(future: asyncio.Future, result, error: BaseException | None) -> None:
    if not future.done():  # the awaiting task may have been cancelled
        if error is None:
            future.set_result(result)
        else:
            future.set_exception(error)


@dataclass
class _Lookup:
    """A micro-batch item that is an index search, not a text: (scores, rows) of `vector`, `depth` deep."""

    vector: object
    depth: int


@dataclass
class Predictions:
    """One request's results, one per text, as the model's `serve_batch` returns them (a classifier's prediction row,
    a query or user vector), and which came from the cache."""

    texts: list[str]
    results: list
    cached: list[bool]


class ServingState:
    """Everything an app serves from; `start()` loads and warms the models, `stop()` drains their workers."""

    def __init__(self, specs: list[ModelSpec], settings: ServeSettings,
                 on_ready: Callable[[ServingState], None] | None = None,
                 on_failure: Callable[[BaseException], None] | None = None):
        self.settings = settings
        self.registry = ModelRegistry(specs)
        self.cache = LRUCache(settings.cache_size)
        self.metrics = ServeMetrics()
        self.metrics.cache_entries.set_function(lambda: len(self.cache))
        self.ready = False
        self.failure: str | None = None
        self.on_ready, self.on_failure = on_ready, on_failure
        self._loader: asyncio.Task | None = None
        self._stopping = False
        self._deadline: float | None = None  # monotonic time by which shutdown must be over
        # the monitor tokenises what it observes: keep that off the request path, on its own thread
        self._observer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="drift-monitor")

    # --- lifecycle -------------------------------------------------------------------------------------------
    def begin_loading(self) -> None:
        """Load in the background, so /healthz answers (and /readyz says 503) while weights load."""
        self._loader = asyncio.create_task(self._load_all())

    async def _load_all(self) -> None:
        s = self.settings
        try:
            for spec in self.registry.specs:
                if self._stopping:  # shut down while loading: the rest is not needed
                    return
                served = await _in_daemon_thread(load_served, spec, s.device, s.warmup, s.monitor_window,
                                                 s.bucket_size)
                served.batcher = MicroBatcher(self._predict_fn(served), max_batch=s.max_batch,
                                              max_wait_ms=s.max_wait_ms, enabled=s.batching, name=spec.ref,
                                              **self.metrics.batcher_hooks(spec.ref)).start()
                self.registry.add(served)
        except Exception as exc:  # noqa: BLE001 - reported by /readyz and the on_failure hook
            self.failure = f"{type(exc).__name__}: {exc}"
            log.error("loading the models failed: %s", self.failure)
            if self.on_failure:
                self.on_failure(exc)
            return
        if self._stopping:
            return
        # What loading left (modules, weights' wrappers, vocabularies: ~350k objects with a recommender) goes to
        # the permanent generation, so the collector stops re-scanning it: a full collection took 230-280 ms, a
        # pause every in-flight request shared, the tail of /v1/recommend and /v1/search (docs/benchmarks.md).
        gc.collect()
        gc.freeze()
        self.ready = True
        self.metrics.ready.set(1)
        if self.on_ready:
            self.on_ready(self)

    def _predict_fn(self, served: ServedModel):
        """What the worker runs on a micro-batch of strings (texts, queries, history keys): the predictor's
        `serve_batch`, one result per string."""
        bucket = self.settings.bucket_size

        def run(items: list):  # looked up per batch, so a swapped model method takes effect
            look = [i for i, item in enumerate(items) if isinstance(item, _Lookup)]
            if not look:
                return served.model.serve_batch(items, bucket)
            out: list = [None] * len(items)
            rest = [i for i in range(len(items)) if not isinstance(items[i], _Lookup)]
            if rest:
                for i, result in zip(rest, served.model.serve_batch([items[i] for i in rest], bucket)):
                    out[i] = result
            for i, result in zip(look, served.model.serve_lookup([(items[i].vector, items[i].depth) for i in look])):
                out[i] = result
            return out

        return run

    async def lookup(self, served: ServedModel, vectors: list, depths: list[int]) -> list:
        """(scores, rows) from the model's vector index for each vector, searched `depth` deep, in the model's
        micro-batches (see the module docstring)."""
        return await served.batcher.submit([_Lookup(v, d) for v, d in zip(vectors, depths)])

    def begin_shutdown(self) -> None:
        """Start the shutdown deadline (`shutdown_timeout_s` from now); the server calls it when the signal comes."""
        if self._deadline is None:
            self._deadline = time.monotonic() + self.settings.shutdown_timeout_s

    def shutdown_left(self) -> float:
        """Seconds left until the shutdown deadline (starting it if it has not started)."""
        self.begin_shutdown()
        return max(0.0, self._deadline - time.monotonic())

    async def stop(self) -> None:
        """Drain every worker's queued texts, within what is left of the shutdown deadline; a load still running
        or a model still busy then is left behind (daemon threads: they do not hold the process)."""
        self._stopping = True
        self.ready = False
        self.metrics.ready.set(0)
        if self._loader is not None:
            await asyncio.wait([self._loader], timeout=self.shutdown_left())
        left = self.shutdown_left()
        done = await asyncio.gather(*(m.batcher.stop(left) for m in self.registry if m.batcher))
        if not all(done):
            log.warning("an inference worker was still busy at the shutdown deadline; leaving it")
        # the monitor's window lives in memory and ends with the process: queued observations can go
        self._observer.shutdown(wait=False, cancel_futures=True)

    # --- the prediction path ---------------------------------------------------------------------------------
    async def predict(self, served: ServedModel, texts: list, keys: list | None = None) -> Predictions:
        """Predictions for a request's texts (or other items): cache hits, and the misses (deduplicated) through
        the batcher.

        The model sees each text as sent (as `ecomtune predict` would), and the cache key is that exact text: a
        normalised key would hand the answer for whichever variant came first (a full-width twin, say) to every
        later client. Items that are no text (decoded images) come with `keys`, one each (a hash of the bytes
        sent). `cached` is true only for rows the cache answered; an item repeated within the request is computed
        once and is not cached for either row.
        """
        keys = [(served.name, served.version, k) for k in (texts if keys is None else keys)]
        item = dict(zip(keys, texts))
        rows: list = [self.cache.get(key) for key in keys]
        cached = [row is not None for row in rows]
        todo = list(dict.fromkeys(key for key, row in zip(keys, rows) if row is None))
        ref = served.ref
        if self.cache.enabled:
            hits = sum(cached)
            self.metrics.cache_hits.labels(ref).inc(hits)
            self.metrics.cache_misses.labels(ref).inc(len(texts) - hits)
        if todo:
            results = await served.batcher.submit([item[key] for key in todo])
            fresh = dict(zip(todo, results))
            for key, result in fresh.items():
                self.cache.put(key, result)
            rows = [row if row is not None else fresh[key] for key, row in zip(keys, rows)]
        self.metrics.items.labels(ref).inc(len(texts))
        if served.monitor is not None:
            self._observer.submit(self._observe, served, list(texts), rows)
        return Predictions(list(texts), rows, cached)

    @staticmethod
    def _observe(served: ServedModel, texts, results) -> None:
        try:
            served.monitor.observe_results(texts, results)
        except Exception as exc:  # noqa: BLE001 - monitoring must never fail a prediction
            log.warning("drift monitor of %s failed to observe: %s", served.ref, exc)
