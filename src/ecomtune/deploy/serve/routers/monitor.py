"""GET /v1/monitor?model=NAME: the drift report of a model's recent predictions (cache hits included)."""
from __future__ import annotations

from fastapi import APIRouter, Depends, HTTPException, Query, Request, status

from ecomtune.deploy.serve.deps import pick_model, ready_state
from ecomtune.deploy.serve.schemas import ERRORS
from ecomtune.deploy.serve.service import ServingState

router = APIRouter(tags=["monitor"])


@router.get("/v1/monitor", responses=ERRORS)
async def monitor(request: Request, model: str | None = Query(None, description="`name` or `name@version`."),
                  state: ServingState = Depends(ready_state)) -> dict:
    """PSI per signal against the run's reference profile, drift flags and `action` ("ok", "collecting",
    "fine-tune again"); 404 when the run has no reference profile."""
    served = pick_model(state, request, None, model)
    if served.monitor is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, served.monitor_error or "no monitor")
    return {"model": served.name, "version": served.version, **served.monitor.report()}
