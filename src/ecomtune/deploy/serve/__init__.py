"""Serve run directories over HTTP: `create_app(run_dirs, settings)` (FastAPI) and `serve(...)` (uvicorn).

    app.py          the app: lifespan (load, warm, drain), exception handlers, routers
    guards.py       before any route: the API key, the body-size limit; the short error body
    openapi.py      the app's schema: its limits, models and (with a key) security
    settings.py     ServeSettings, validated at start-up
    registry.py     names, versions and which model a request gets
    batching.py     the per-model micro-batcher and its inference thread
    cache.py        a generic thread-safe LRU cache
    metrics.py      Prometheus metrics (one registry per app)
    routers/        classify, taxonomy, recommend, search, models, monitor, health
"""
from ecomtune.errors import EcomtuneError

try:
    import fastapi  # noqa: F401
    import prometheus_client  # noqa: F401
    import uvicorn  # noqa: F401
except ImportError as exc:  # an optional extra: say which one brings it
    raise EcomtuneError(f"the HTTP service needs `{exc.name}` — `pip install ecomtune[serve]`") from None

from ecomtune.deploy.serve.app import create_app  # after the check above
from ecomtune.deploy.serve.server import serve
from ecomtune.deploy.serve.settings import ServeError, ServeSettings

__all__ = ["ServeError", "ServeSettings", "create_app", "serve"]
