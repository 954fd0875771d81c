"""Dependencies the routers declare: the app's state (models, cache, settings) once it is ready, and the model a
request picks. (The API key is checked before routing, in guards.py.)

They are `async def` on purpose: FastAPI runs plain `def` dependencies in a thread pool, a thread hop per
dependency per request that cost measurable throughput on a 2-core machine.
"""
from __future__ import annotations

from fastapi import Depends, HTTPException, Request, status

from ecomtune.deploy.serve.registry import ModelAmbiguous, ModelNotFound, ServedModel
from ecomtune.deploy.serve.service import ServingState


async def get_state(request: Request) -> ServingState:
    return request.app.state.serving


async def ready_state(state: ServingState = Depends(get_state)) -> ServingState:
    """The state, once every model is loaded and warm (503 before)."""
    if not state.ready:
        detail = f"models failed to load: {state.failure}" if state.failure else "models are still loading"
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, detail, headers={"Retry-After": "1"})
    return state


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
