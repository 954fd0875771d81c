"""Micro-batching: texts from concurrent requests run as one batch, on one inference thread per model.

How a batch forms: the worker thread sleeps until a text is queued, then waits until `max_batch` texts are
queued or the oldest has waited `max_wait_ms` (measured from its arrival, so a busy worker adds no extra wait),
and takes at most `max_batch` texts, oldest first. Requests are split into texts, so a large request can share
a batch with small ones. Under low traffic the wait is skipped: when the previous batch held one request and one
request is queued, nothing suggests another is coming, so a lone client pays no batching delay; as soon as
requests overlap again (two queued, or a merged batch), batches wait again.

The batcher does not know what a task returns: `predict(items)` gives one result per item (a classifier's
prediction row, a query or user vector), and each request gets its own results back, in order.

Where the CPU speed comes from: a classifier's batch goes to `predict_arrays(texts, bucket_size)`, which sorts
it by token length and runs it in buckets of `bucket_size` texts, so each forward pass pads to similar lengths
(on CPU, similar lengths matter more than large batches). Measured with minilm in bf16 on 2 AMX cores, 32
clients: buckets of 8, 16 and 32 served 100, 111 and 126 requests/s — with micro-batches of about 30 texts,
bigger matrix products won over less padding, so the default bucket is the whole micro-batch (32); a smaller
`bucket_size` pays off when micro-batches are large and lengths vary a lot.

With batching off, each request is one call of its own, in arrival order, on the same thread.
The event loop never runs a model: it only queues texts and awaits a future the worker resolves.

When a batch holding several requests raises, each request's texts run again on their own, so only the request
that caused the error fails (one client's unreadable text must not fail its neighbours').
"""
from __future__ import annotations

import asyncio
import threading
import time
from collections import deque
from collections.abc import Callable

from collections.abc import Sequence
from typing import Any

Predict = Callable[[list[str]], Sequence[Any]]


def _nothing(*_) -> None:
    return None


class _Job:
    """The texts of one request and where their results go."""

    __slots__ = ("future", "loop", "pending", "results", "texts")

    def __init__(self, texts: list[str], loop: asyncio.AbstractEventLoop):
        self.texts = texts
        self.loop = loop
        self.future: asyncio.Future = loop.create_future()
        self.pending = len(texts)
        self.results: list[Any] = [None] * len(texts)

    def fill(self, index: int, result: Any) -> None:
        self.results[index] = result
        self.pending -= 1
        if self.pending == 0:
            self._resolve(_set_result, self.results)

    def fail(self, exc: BaseException) -> None:
        self.pending = -1  # results of its other texts, if any are still queued, are dropped
        self._resolve(_set_exception, exc)

    def _resolve(self, setter, value) -> None:
        try:
            self.loop.call_soon_threadsafe(setter, self.future, value)
        except RuntimeError:  # the event loop is closed: nobody is waiting any more
            pass


def _set_result(future: asyncio.Future, value) -> None:
    if not future.done():  # the client may have gone (request cancelled)
        future.set_result(value)


def _set_exception(future: asyncio.Future, exc: BaseException) -> None:
    if not future.done():
        future.set_exception(exc)


class MicroBatcher:
    """Queues texts from many requests and runs them through `predict` on one dedicated thread.

    `predict(items) -> one result per item`, e.g. `lambda texts: model.serve_batch(texts, 8)`.
    Hooks, thread-safe, errors ignored: `on_batch(n_texts, seconds)`, `on_queue(depth)`, `on_error(exc)`.
    """

    def __init__(self, predict: Predict, *, max_batch: int = 32, max_wait_ms: float = 5.0, enabled: bool = True,
                 name: str = "model", on_batch: Callable[[int, float], None] = _nothing,
                 on_queue: Callable[[int], None] = _nothing, on_error: Callable[[BaseException], None] = _nothing):
        if max_batch < 1 or max_wait_ms < 0:
            raise ValueError(f"max_batch must be >= 1 and max_wait_ms >= 0, got {max_batch} and {max_wait_ms}")
        self.predict = predict
        self.max_batch = max_batch
        self.max_wait = max_wait_ms / 1000
        self.enabled = enabled
        self.name = name
        self.on_batch, self.on_queue, self.on_error = on_batch, on_queue, on_error
        self._queue: deque[tuple[_Job, int, float]] = deque()  # (job, index in job, arrival time)
        self._cond = threading.Condition()
        self._stopping = False
        self._thread: threading.Thread | None = None
        self._last_requests = 2  # requests in the previous batch; start by assuming traffic overlaps

    @property
    def depth(self) -> int:
        """Texts waiting for a batch."""
        return len(self._queue)

    def start(self) -> MicroBatcher:
        if self._thread is None:
            # daemon: a model stuck past the shutdown timeout must not keep the process alive
            self._thread = threading.Thread(target=self._work, name=f"infer-{self.name}", daemon=True)
            self._thread.start()
        return self

    async def submit(self, texts: list[str]) -> list[Any]:
        """The results for `texts`, in order, once the batches holding them have run."""
        job = _Job(list(texts), asyncio.get_running_loop())
        if not job.texts:
            raise ValueError("submit needs at least one text")
        with self._cond:
            if self._stopping or self._thread is None:
                raise RuntimeError(f"the inference worker of {self.name} is not running")
            now = time.monotonic()
            self._queue.extend((job, i, now) for i in range(len(job.texts)))
            depth = len(self._queue)
            self._cond.notify()
        self._safe(self.on_queue, depth)
        return await job.future

    async def stop(self, timeout: float | None = None) -> bool:
        """Refuse new texts, finish the queued ones, end the thread; False if it is still busy after `timeout`."""
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        if self._thread is None:
            return True
        await asyncio.to_thread(self._thread.join, timeout)
        return not self._thread.is_alive()

    def _next_batch(self) -> list[tuple[_Job, int, float]] | None:
        with self._cond:
            while not self._queue and not self._stopping:
                self._cond.wait()
            if not self._queue:
                return None  # stopping, and everything is done
            if self.enabled:
                deadline = self._queue[0][2] + self.max_wait
                lone = self._last_requests == 1 and self._queue[0][0] is self._queue[-1][0]
                while len(self._queue) < self.max_batch and not self._stopping and not lone:
                    left = deadline - time.monotonic()
                    if left <= 0:
                        break
                    self._cond.wait(left)
                size = min(self.max_batch, len(self._queue))
            else:  # one request at a time: its texts were queued together
                size = len(self._queue[0][0].texts)
            batch = [self._queue.popleft() for _ in range(size)]
            self._last_requests = len({id(job) for job, _, _ in batch})
            depth = len(self._queue)
        self._safe(self.on_queue, depth)
        return batch

    def _work(self) -> None:
        while (batch := self._next_batch()) is not None:
            live = [(job, i) for job, i, _ in batch if job.pending > 0]
            if not live or (error := self._run(live)) is None:
                continue
            parts: dict[_Job, list[tuple[_Job, int]]] = {}
            for job, i in live:
                parts.setdefault(job, []).append((job, i))
            for job, part in parts.items():  # alone, a request fails only for its own texts
                failed = self._run(part) if len(parts) > 1 else error
                if failed is not None:
                    job.fail(failed)

    def _run(self, live: list[tuple[_Job, int]]) -> Exception | None:
        """Predict `live` texts and fill their jobs; the exception instead, if `predict` raises."""
        start = time.perf_counter()
        try:
            results = self.predict([job.texts[i] for job, i in live])
            if len(results) != len(live):
                raise RuntimeError(f"predict returned {len(results)} results for {len(live)} items")
        except Exception as exc:  # noqa: BLE001 - a bad batch fails its requests, never the worker
            self._safe(self.on_error, exc)
            return exc
        self._safe(self.on_batch, len(live), time.perf_counter() - start)
        for row, (job, i) in enumerate(live):
            if job.pending > 0:
                job.fill(i, results[row])
        return None

    @staticmethod
    def _safe(hook, *args) -> None:
        try:
            hook(*args)
        except Exception:  # noqa: BLE001, S110 - a metrics hook must not stop inference
            pass
