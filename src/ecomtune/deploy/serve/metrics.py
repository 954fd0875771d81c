"""Prometheus metrics of one app, in its own `CollectorRegistry` (several apps in one process stay apart)."""
from __future__ import annotations

import time

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client.exposition import CONTENT_TYPE_LATEST

# Paths that get their own label; anything else is "other", so scanners cannot blow up the label set.
ENDPOINTS = ("/v1/classify", "/v1/taxonomy", "/v1/recommend", "/v1/search", "/v1/models", "/v1/monitor", "/healthz",
             "/readyz", "/metrics", "/docs", "/redoc", "/openapi.json")
LATENCY_BUCKETS = (0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256)
ERROR_KINDS = {400: "bad_request", 401: "auth", 404: "not_found", 413: "too_large", 422: "validation",
               503: "not_ready"}


class ServeMetrics:
    """Requests by endpoint/model/status, latency, batch sizes, cache hits/misses, errors, queue depth.

    Cache hit rate = ecomtune_cache_hits_total / (ecomtune_cache_hits_total + ecomtune_cache_misses_total).
    """

    content_type = CONTENT_TYPE_LATEST

    def __init__(self):
        self.registry = CollectorRegistry()
        r = self.registry
        self.requests = Counter("ecomtune_requests", "HTTP requests.", ["endpoint", "model", "status"], registry=r)
        self.latency = Histogram("ecomtune_request_seconds", "HTTP request latency.", ["endpoint", "model"],
                                 buckets=LATENCY_BUCKETS, registry=r)
        self.errors = Counter("ecomtune_errors", "Requests answered with an error, by kind.", ["endpoint", "kind"],
                              registry=r)
        self.items = Counter("ecomtune_items", "Texts predicted (cache hits included).", ["model"], registry=r)
        self.batch_size = Histogram("ecomtune_batch_size", "Texts per inference batch.", ["model"],
                                    buckets=BATCH_BUCKETS, registry=r)
        self.batch_seconds = Histogram("ecomtune_batch_seconds", "Inference time per batch.", ["model"],
                                       buckets=LATENCY_BUCKETS, registry=r)
        self.inference_errors = Counter("ecomtune_inference_errors", "Batches whose inference raised.", ["model"],
                                        registry=r)
        self.queue_depth = Gauge("ecomtune_queue_depth", "Texts waiting for a batch.", ["model"], registry=r)
        self.cache_hits = Counter("ecomtune_cache_hits", "Predictions served from the cache.", ["model"], registry=r)
        self.cache_misses = Counter("ecomtune_cache_misses", "Predictions not in the cache.", ["model"], registry=r)
        self.cache_entries = Gauge("ecomtune_cache_entries", "Entries in the prediction cache.", registry=r)
        self.ready = Gauge("ecomtune_ready", "1 once every model is loaded and warm.", registry=r)

    def batcher_hooks(self, model: str) -> dict:
        """`on_batch` / `on_queue` / `on_error` for a model's `MicroBatcher`."""
        size, seconds = self.batch_size.labels(model), self.batch_seconds.labels(model)
        depth, errors = self.queue_depth.labels(model), self.inference_errors.labels(model)

        def on_batch(n: int, took: float) -> None:
            size.observe(n)
            seconds.observe(took)

        return {"on_batch": on_batch, "on_queue": depth.set, "on_error": lambda exc: errors.inc()}

    def observe_request(self, path: str, model: str, status: int, seconds: float) -> None:
        endpoint = path if path in ENDPOINTS else "other"
        self.requests.labels(endpoint, model, str(status)).inc()
        self.latency.labels(endpoint, model).observe(seconds)
        if status >= 400:
            kind = ERROR_KINDS.get(status, "client" if status < 500 else "server")
            self.errors.labels(endpoint, kind).inc()

    def render(self) -> bytes:
        return generate_latest(self.registry)


class MetricsMiddleware:
    """Pure ASGI middleware (no per-request task, unlike BaseHTTPMiddleware): counts and times every request.

    The route names the model it served in `request.state.model`; the label is empty for other endpoints.
    """

    def __init__(self, app, metrics: ServeMetrics):
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        start = time.perf_counter()
        status = 500

        async def send_status(message):
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            model = scope.get("state", {}).get("model", "")
            self.metrics.observe_request(scope["path"], model, status, time.perf_counter() - start)
