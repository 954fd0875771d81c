"""Dependencies the routers declare: the app's state (models, cache, settings) and the API-key check.

They are `async def` on purpose: FastAPI runs plain `def` dependencies in a thread pool, a thread hop per
dependency per request that cost measurable throughput on a 2-core machine.
"""
from __future__ import annotations

import secrets

from fastapi import Depends, HTTPException, Request, status
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

from ecomtune.deploy.serve.registry import ModelAmbiguous, ModelNotFound, ServedModel
from ecomtune.deploy.serve.service import ServingState

_key_header = APIKeyHeader(name="X-API-Key", auto_error=False, description="The service's API key.")
_bearer = HTTPBearer(auto_error=False, description="The service's API key as a bearer token.")


async def get_state(request: Request) -> ServingState:
    return request.app.state.serving


async def ready_state(state: ServingState = Depends(get_state)) -> ServingState:
    """The state, once every model is loaded and warm (503 before)."""
    if not state.ready:
        detail = f"models failed to load: {state.failure}" if state.failure else "models are still loading"
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, detail, headers={"Retry-After": "1"})
    return state


async def require_api_key(state: ServingState = Depends(get_state), key: str | None = Depends(_key_header),
                    bearer: HTTPAuthorizationCredentials | None = Depends(_bearer)) -> None:
    """401 unless the service has no key or the request sends it (X-API-Key, or Authorization: Bearer)."""
    expected = state.settings.api_key
    if expected is None:
        return
    given = key or (bearer.credentials if bearer else None)
    if given is None or not secrets.compare_digest(given.encode(), expected.encode()):
        what = "wrong API key" if given else "missing API key"
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, f"{what} — send it as X-API-Key or Authorization: Bearer",
                            headers={"WWW-Authenticate": "Bearer"})


def pick_model(state: ServingState, request: Request, family: str | None, model: str | None) -> ServedModel:
    """The model a request asks for (404 unknown, 400 ambiguous), named in `request.state` for the metrics."""
    try:
        served = state.registry.select(family, model)
    except ModelNotFound as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, str(exc)) from None
    except ModelAmbiguous as exc:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, str(exc)) from None
    request.state.model = served.ref
    return served
