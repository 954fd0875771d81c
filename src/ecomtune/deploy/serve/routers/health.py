"""Operations endpoints, never behind the API key: /healthz (alive), /readyz (models warm), /metrics."""
from __future__ import annotations

from fastapi import APIRouter, Depends, Response, status
from fastapi.responses import JSONResponse

from ecomtune.deploy.serve.deps import get_state
from ecomtune.deploy.serve.schemas import Health, Readiness
from ecomtune.deploy.serve.service import ServingState

router = APIRouter(tags=["operations"])


@router.get("/healthz", response_model=Health)
async def healthz() -> dict:
    """The process is up and its event loop answers."""
    return {"status": "alive"}


@router.get("/readyz", response_model=Readiness, response_model_exclude_none=True,
            responses={503: {"model": Readiness, "description": "Loading, or loading failed"}})
async def readyz(state: ServingState = Depends(get_state)):
    """200 once every model is loaded and warmed up; 503 before (or if loading failed)."""
    if state.ready:
        return {"status": "ready", "models": [m.ref for m in state.registry]}
    body = {"status": "failed", "detail": state.failure} if state.failure else {"status": "loading"}
    return JSONResponse(body, status_code=status.HTTP_503_SERVICE_UNAVAILABLE)


@router.get("/metrics", include_in_schema=False)
async def metrics(state: ServingState = Depends(get_state)) -> Response:
    """Prometheus text format."""
    return Response(state.metrics.render(), media_type=state.metrics.content_type)
