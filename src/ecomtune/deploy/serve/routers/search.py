"""POST /v1/search: task `search` — queries embedded through the micro-batcher (the LRU cache keeps recent query
vectors), the catalogue index searched with them, optionally re-ranked by the cross-encoder (in a thread)."""
from __future__ import annotations

import asyncio

import numpy as np

from fastapi import APIRouter, Depends, HTTPException, Request, status

from ecomtune.deploy.serve.deps import pick_model, ready_state
from ecomtune.deploy.serve.routers import failed
from ecomtune.deploy.serve.schemas import (
    ERRORS,
    SearchHit,
    SearchRequest,
    SearchResponse,
    SearchResult,
    check_texts,
)
from ecomtune.deploy.serve.service import ServingState

router = APIRouter(tags=["search"])


@router.post("/v1/search", response_model=SearchResponse, responses=ERRORS)
async def search(body: SearchRequest, request: Request,
                 state: ServingState = Depends(ready_state)) -> SearchResponse:
    """Top `k` products per query from a `search` model (bi-encoder retrieval, optional cross-encoder re-ranking)."""
    check_texts(body.queries, state.settings, "queries", "query")
    served = pick_model(state, request, "search", body.model)
    engine = served.model
    if body.rerank and not engine.has_reranker:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, f"{served.ref} has no re-ranker (trained with "
                                                         "`model.reranker: false`) — send `rerank: false`")
    try:
        embedded = await state.predict(served, body.queries)
        hits = await asyncio.to_thread(engine.search_vectors, np.stack(embedded.results), body.k, body.rerank,
                                       body.queries)
    except Exception as exc:  # the worker survives; the client gets the reason
        raise failed("search", served, exc) from exc
    return SearchResponse(model=served.name, version=served.version, task=served.task, reranked=body.rerank,
                          searches=[SearchResult(query=q, results=[SearchHit(**h) for h in found], cached=c)
                                    for q, found, c in zip(body.queries, hits, embedded.cached)])
