"""`browse_app(roots)`: the console alone, for `ecomtune ui RUNS_DIR` — it reads run directories and loads no model,
so it starts in a second and "try it" and the drift monitor point to a running `ecomtune serve --ui` instead."""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import RedirectResponse
from starlette.exceptions import HTTPException

from ecomtune.deploy.serve.guards import OPEN_PATHS, ApiKeyMiddleware, error_response
from ecomtune.deploy.serve.settings import ServeError
from ecomtune.version import __version__


async def _http_error(request: Request, exc: HTTPException):
    return error_response(exc.status_code, str(exc.detail), headers=exc.headers)


def browse_app(roots: Sequence[str | Path], api_key: str | None = None, serve_url: str | None = None) -> FastAPI:
    """The console over every run directory under `roots` (and `compare` folders), keyed by `api_key` if given."""
    from ecomtune.deploy.serve.routers import console

    paths = [Path(r) for r in roots]
    for path in paths:
        if not path.is_dir():
            raise ServeError(f"{path}: not a directory — pass the folder that holds your run directories "
                             "(e.g. runs/)")
    app = FastAPI(title="ecomtune console", version=__version__, docs_url=None, redoc_url=None, openapi_url=None)
    app.state.api_key = api_key
    if api_key:
        app.add_middleware(ApiKeyMiddleware, key=api_key, open_paths=OPEN_PATHS | console.OPEN | {"/"})
    app.add_exception_handler(HTTPException, _http_error)
    app.add_api_route("/", lambda: RedirectResponse("/ui"), include_in_schema=False)
    console.mount(app, paths, serve_url)
    return app
