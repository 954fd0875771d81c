"""Serve run directories over HTTP: `create_app(run_dirs, settings)` (FastAPI) and `serve(...)` (uvicorn).

    app.py          the app: lifespan (load, warm, drain), exception handlers, routers
    settings.py     ServeSettings, validated at start-up
    registry.py     names, versions and which model a request gets
    batching.py     the per-model micro-batcher and its inference thread
    cache.py        a generic thread-safe LRU cache
    metrics.py      Prometheus metrics (one registry per app)
    routers/        classify, taxonomy, models, monitor, health
"""
from ecomtune.deploy.serve.app import create_app
from ecomtune.deploy.serve.server import serve
from ecomtune.deploy.serve.settings import ServeError, ServeSettings

__all__ = ["ServeError", "ServeSettings", "create_app", "serve"]
