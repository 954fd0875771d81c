"""POST /v1/qa: task `qa` — questions about products, answered from each product's other answered questions (in
a thread: retrieval, the gate, then one batched decode of the supported questions)."""
from __future__ import annotations

import asyncio

from fastapi import APIRouter, Depends, Request

from ecomtune.deploy.serve.deps import pick_model, ready_state
from ecomtune.deploy.serve.routers import failed
from ecomtune.deploy.serve.schemas import ERRORS, QAAnswer, QARequest, QAResponse, check_texts
from ecomtune.deploy.serve.service import ServingState

router = APIRouter(tags=["qa"])


@router.post("/v1/qa", response_model=QAResponse, responses=ERRORS)
async def qa(body: QARequest, request: Request, state: ServingState = Depends(ready_state)) -> QAResponse:
    """Answers to shoppers' questions from a `qa` model; `supported: false` when the product's Q&A does not say."""
    check_texts([q.question for q in body.questions], state.settings, "questions", "question")
    check_texts([q.product for q in body.questions], state.settings, "questions", "product")
    served = pick_model(state, request, "qa", body.model)
    overrides = {"max_new_tokens": body.max_new_tokens} if body.max_new_tokens else {}
    try:
        answers = await asyncio.to_thread(served.model.ask_many, [q.model_dump() for q in body.questions],
                                          **overrides)
    except Exception as exc:  # the worker survives; the client gets the reason
        raise failed("answering", served, exc) from exc
    return QAResponse(model=served.name, version=served.version, task=served.task,
                      answers=[QAAnswer(**a) for a in answers])
