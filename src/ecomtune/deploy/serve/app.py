"""`create_app(run_dirs, settings)`: the FastAPI app that serves run directories.

Start-up: settings are validated and every manifest is read when the app is created (a bad run directory fails
before any port opens); the lifespan then loads and warms the models in the background, so /healthz answers at
once and /readyz turns 200 when all are warm. Shutdown (SIGTERM/SIGINT under uvicorn): uvicorn stops accepting
and waits for in-flight requests, then the lifespan drains each inference worker — both within one deadline,
`shutdown_timeout_s` from the signal (server.py). Before any route: the API key and the body-size limit
(guards.py); every error is the short `ErrorResponse` body.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException

from ecomtune.deploy.serve.guards import OPEN_PATHS, ApiKeyMiddleware, BodyLimitMiddleware, clip, error_response
from ecomtune.deploy.serve.metrics import MetricsMiddleware
from ecomtune.deploy.serve.openapi import app_schema
from ecomtune.deploy.serve.registry import plan
from ecomtune.deploy.serve.routers import health, models, monitor
from ecomtune.registry import tasks
from ecomtune.deploy.serve.service import ServingState
from ecomtune.deploy.serve.settings import ServeSettings

_SOURCES = {"body", "query", "path", "header", "cookie"}
MAX_ERRORS = 10


def field_name(loc: Sequence) -> str:
    """("body", "texts", 3) -> "texts[3]"; ("body",) -> "body"."""
    parts = list(loc)
    if len(parts) > 1 and parts[0] in _SOURCES:
        parts = parts[1:]
    name = ""
    for part in parts:
        name += f"[{part}]" if isinstance(part, int) else (f".{part}" if name else str(part))
    return name or "body"


async def _validation_error(request: Request, exc: RequestValidationError):
    # never `input` or `ctx`: they hold what the client sent (20 MB, NaN, a lone surrogate)
    errors = exc.errors()
    first = errors[0]
    if first.get("type") == "json_invalid":
        detail = f"body: JSON decode error at character {first['loc'][-1]}: {first.get('ctx', {}).get('error')}"
    else:
        more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
        detail = f"{clip(field_name(first.get('loc', ())), 80)}: {first.get('msg', 'invalid')}{more}"
    items = [{"loc": [p if isinstance(p, int) else clip(str(p), 80) for p in e.get("loc", ())],
              "msg": clip(str(e.get("msg", "invalid"))), "type": str(e.get("type", "value_error"))}
             for e in errors[:MAX_ERRORS]]
    return error_response(422, detail, items)


async def _http_error(request: Request, exc: HTTPException):
    return error_response(exc.status_code, str(exc.detail), headers=exc.headers)


async def _internal_error(request: Request, exc: Exception):
    return error_response(500, f"internal error: {type(exc).__name__}: {clip(str(exc), 200)}")


def create_app(run_dirs: Sequence[str | Path], settings: ServeSettings | dict | None = None, *,
               on_ready: Callable[[ServingState], None] | None = None,
               on_failure: Callable[[BaseException], None] | None = None, ui: bool = False,
               ui_runs: Sequence[str | Path] = ()) -> FastAPI:
    """The service for `run_dirs` (each `RUN_DIR`, `NAME=RUN_DIR` or `NAME@VERSION=RUN_DIR`).

    `on_ready(state)` runs once every model is warm; `on_failure(exc)` if loading fails (the CLI stops then).
    `ui` mounts the web console at /ui (routers/console.py), listing the served runs and those under `ui_runs`.
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

    from ecomtune.version import __version__

    app = FastAPI(title="ecomtune", version=__version__, lifespan=lifespan,
                  description="Predictions from fine-tuned ecomtune models. Models: GET /v1/models; "
                              "readiness: /readyz; Prometheus metrics: /metrics.")
    app.state.serving = state
    # the last added runs first: count every answer, then the key, then the size, all before the body is parsed
    app.add_middleware(BodyLimitMiddleware, limit=settings.max_body_bytes)
    if settings.api_key:
        from ecomtune.deploy.serve.routers.console import OPEN as CONSOLE_PAGES

        app.add_middleware(ApiKeyMiddleware, key=settings.api_key,
                           open_paths=OPEN_PATHS | (CONSOLE_PAGES if ui else frozenset()))
    app.add_middleware(MetricsMiddleware, metrics=state.metrics)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(HTTPException, _http_error)
    app.add_exception_handler(Exception, _internal_error)
    routers = {t.router: t for _, t in tasks().items()}  # one per endpoint: tasks may share one (classify, multitask)
    for router in (health.router, *(t.part("router") for t in routers.values()), models.router, monitor.router):
        app.include_router(router)
    if ui:
        from ecomtune.deploy.serve.routers import console

        console.mount(app, [Path(p) for p in ui_runs])
    refs = sorted({s.name for s in state.registry.specs} | {s.ref for s in state.registry.specs})

    def openapi() -> dict:
        if app.openapi_schema is None:
            app.openapi_schema = app_schema(FastAPI.openapi(app), settings, refs)
        return app.openapi_schema

    app.openapi = openapi
    return app
