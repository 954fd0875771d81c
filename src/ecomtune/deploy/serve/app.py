"""`create_app(run_dirs, settings)`: the FastAPI app that serves run directories.

Start-up: settings are validated and every manifest is read when the app is created (a bad run directory fails
before any port opens); the lifespan then loads and warms the models in the background, so /healthz answers at
once and /readyz turns 200 when all are warm. Shutdown (SIGTERM/SIGINT under uvicorn): uvicorn stops accepting
and waits for in-flight requests (`shutdown_timeout_s`), then the lifespan drains each inference worker.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import Depends, FastAPI, Request, status
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from ecomtune.deploy.serve.deps import require_api_key
from ecomtune.deploy.serve.metrics import MetricsMiddleware
from ecomtune.deploy.serve.registry import plan
from ecomtune.deploy.serve.routers import classify, health, models, monitor, recommend, search, taxonomy
from ecomtune.deploy.serve.service import ServingState
from ecomtune.deploy.serve.settings import ServeSettings

_SOURCES = {"body", "query", "path", "header", "cookie"}


def field_name(loc: Sequence) -> str:
    """("body", "texts", 3) -> "texts[3]"; ("body",) -> "body"."""
    parts = list(loc)
    if len(parts) > 1 and parts[0] in _SOURCES:
        parts = parts[1:]
    name = ""
    for part in parts:
        name += f"[{part}]" if isinstance(part, int) else (f".{part}" if name else str(part))
    return name or "body"


async def _validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
    errors = jsonable_encoder(exc.errors())
    first = errors[0]
    where = "body" if first.get("type") == "json_invalid" else field_name(first.get("loc", ()))
    more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
    return JSONResponse({"detail": f"{where}: {first.get('msg', 'invalid')}{more}", "errors": errors},
                        status_code=status.HTTP_422_UNPROCESSABLE_CONTENT)


async def _internal_error(request: Request, exc: Exception) -> JSONResponse:
    return JSONResponse({"detail": f"internal error: {type(exc).__name__}: {exc}"},
                        status_code=status.HTTP_500_INTERNAL_SERVER_ERROR)


def create_app(run_dirs: Sequence[str | Path], settings: ServeSettings | dict | None = None, *,
               on_ready: Callable[[ServingState], None] | None = None,
               on_failure: Callable[[BaseException], None] | None = None) -> FastAPI:
    """The service for `run_dirs` (each `RUN_DIR`, `NAME=RUN_DIR` or `NAME@VERSION=RUN_DIR`).

    `on_ready(state)` runs once every model is warm; `on_failure(exc)` if loading fails (the CLI stops then).
    """
    settings = settings if isinstance(settings, ServeSettings) else ServeSettings.build(settings)
    state = ServingState(plan(list(run_dirs)), settings, on_ready=on_ready, on_failure=on_failure)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        state.begin_loading()
        try:
            yield
        finally:
            await state.stop()

    from ecomtune import __version__

    app = FastAPI(title="ecomtune", version=__version__, lifespan=lifespan,
                  description="Predictions from fine-tuned ecomtune models. Models: GET /v1/models; "
                              "readiness: /readyz; Prometheus metrics: /metrics.")
    app.state.serving = state
    app.add_middleware(MetricsMiddleware, metrics=state.metrics)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(Exception, _internal_error)
    app.include_router(health.router)
    for router in (classify.router, taxonomy.router, recommend.router, search.router, models.router,
                   monitor.router):
        app.include_router(router, dependencies=[Depends(require_api_key)])
    return app
