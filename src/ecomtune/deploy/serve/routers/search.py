"""POST /v1/search: task `search` — queries embedded through the micro-batcher (the LRU cache keeps recent query
vectors), the catalogue index searched with them in the model's micro-batches (`state.lookup`: one search per
batch, on the inference thread), optionally re-ranked by the cross-encoder (in a thread)."""
from __future__ import annotations

import asyncio

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
        found = await state.lookup(served, embedded.results, [engine.depth(body.k, body.rerank)] * len(body.queries))
        scores, rows = [s for s, _ in found], [r for _, r in found]
        if body.rerank:  # the cross-encoder: seconds of work, off the event loop
            hits = await asyncio.to_thread(engine.hits, scores, rows, body.k, True, body.queries)
        else:
            hits = engine.hits(scores, rows, body.k)
    except Exception as exc:  # the worker survives; the client gets the reason
        raise failed("search", served, exc) from exc
    return SearchResponse(model=served.name, version=served.version, task=served.task, reranked=body.rerank,
                          searches=[SearchResult(query=q, results=[SearchHit(**h) for h in found], cached=c)
                                    for q, found, c in zip(body.queries, hits, embedded.cached)])
