"""POST /v1/taxonomy: the most probable path of the training taxonomy for each text."""
from __future__ import annotations

from fastapi import APIRouter, Depends, Request

from ecomtune.deploy.serve.deps import pick_model, ready_state
from ecomtune.deploy.serve.routers import predict_described
from ecomtune.deploy.serve.schemas import (
    ERRORS,
    PathPrediction,
    PredictRequest,
    TaxonomyResponse,
    check_texts,
)
from ecomtune.deploy.serve.service import ServingState

router = APIRouter(tags=["predict"])


@router.post("/v1/taxonomy", response_model=TaxonomyResponse, responses=ERRORS,
             response_model_exclude_none=True)  # `explanation` only when asked
async def taxonomy(body: PredictRequest, request: Request,
                   state: ServingState = Depends(ready_state)) -> TaxonomyResponse:
    """Place texts in a taxonomy: the path (always one seen in training), its score and each level's score."""
    check_texts(body.texts, state.settings)
    served = pick_model(state, request, "taxonomy", body.model)
    rows = await predict_described(state, served, body.texts, explain=body.explain)
    return TaxonomyResponse(model=served.name, version=served.version, task=served.task,
                            predictions=[PathPrediction(**row) for row in rows])
