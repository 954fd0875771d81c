"""POST /v1/classify: tasks `classify` (one label) and `multitask` (a label per head)."""
from __future__ import annotations

from fastapi import APIRouter, Depends, Request

from ecomtune.deploy.serve.deps import pick_model, ready_state
from ecomtune.deploy.serve.routers import predict_described
from ecomtune.deploy.serve.schemas import (
    ERRORS,
    ClassifyResponse,
    HeadsPrediction,
    LabelPrediction,
    PredictRequest,
    check_texts,
)
from ecomtune.deploy.serve.service import ServingState

router = APIRouter(tags=["predict"])


@router.post("/v1/classify", response_model=ClassifyResponse, responses=ERRORS,
             response_model_exclude_none=True)  # `explanation` only when asked
async def classify(body: PredictRequest, request: Request,
                   state: ServingState = Depends(ready_state)) -> ClassifyResponse:
    """Label texts with a `classify` or `multitask` model: label(s), score(s) and probabilities per text."""
    check_texts(body.texts, state.settings)
    served = pick_model(state, request, "classify", body.model)
    rows = await predict_described(state, served, body.texts, explain=body.explain)
    item = HeadsPrediction if "labels" in rows[0] else LabelPrediction  # multitask: a label per head
    return ClassifyResponse(model=served.name, version=served.version, task=served.task,
                            predictions=[item(**row) for row in rows])
