"""POST /v1/recommend: task `recommend` — each history becomes a user vector through the micro-batcher (the LRU
cache keeps the vectors of recent histories, keyed by the item sequence and the profile text, if any), then the
catalogue index answers."""
from __future__ import annotations

import asyncio

from fastapi import APIRouter, Depends, HTTPException, Request, status
from fastapi.exceptions import RequestValidationError

from ecomtune.deploy.serve.deps import pick_model, ready_state
from ecomtune.deploy.serve.schemas import (
    ErrorResponse,
    Recommendation,
    RecommendedItem,
    RecommendRequest,
    RecommendResponse,
)
from ecomtune.deploy.serve.service import ServingState

router = APIRouter(tags=["recommend"])
ERRORS = {code: {"model": ErrorResponse} for code in (400, 401, 404, 500, 503)}


def _check(body: RecommendRequest, rec, settings) -> list:
    """422 naming the first bad field: no histories, too many, an empty one, an item not in the catalogue, or
    profiles the model cannot use / that do not line up with the histories."""
    problems = []
    if body.profiles is not None:
        if not rec.uses_profiles:
            problems.append((("body", "profiles"), ("this model has no profile input (train a two_tower model "
                                                    "with `data.users`) — leave `profiles` out")))
        elif len(body.profiles) != len(body.histories):
            problems.append((("body", "profiles"), (f"{len(body.profiles)} profiles for {len(body.histories)} "
                                                    "histories — send one per history (null for none)")))
    if not body.histories:
        problems.append((("body", "histories"), "empty list — send at least one history"))
    elif len(body.histories) > settings.max_items:
        problems.append((("body", "histories"), f"{len(body.histories)} histories, at most {settings.max_items}"))
    positions = []
    for i, history in enumerate(body.histories[:settings.max_items]):
        if not history:
            problems.append((("body", "histories", i), "empty history — send at least one item id"))
        unknown = [j for j, item in enumerate(history) if item not in rec._position]
        if unknown:
            j = unknown[0]
            problems.append((("body", "histories", i, j), (f"unknown item {history[j]!r} — not in the "
                                                           f"catalogue ({rec.n_items} items)")))
        positions.append(rec.positions(history, strict=False))
    if problems:
        raise RequestValidationError([{"type": "value_error", "loc": loc, "msg": msg, "input": None}
                                      for loc, msg in problems])
    return positions


@router.post("/v1/recommend", response_model=RecommendResponse, responses=ERRORS)
async def recommend(body: RecommendRequest, request: Request,
                    state: ServingState = Depends(ready_state)) -> RecommendResponse:
    """Top `k` items for each user history from a `recommend` model (full catalogue, via the vector index)."""
    served = pick_model(state, request, "recommend", body.model)
    rec = served.model
    positions = _check(body, rec, state.settings)
    try:
        profiles = body.profiles or [None] * len(body.histories)
        vectors = await state.predict(served, [rec.history_key(h, p) for h, p in zip(body.histories, profiles)])
        picks = await asyncio.to_thread(rec.recommend_positions, positions, body.k, body.exclude_history,
                                        vectors.probs[0])
    except Exception as exc:  # the worker survives; the client gets the reason
        raise HTTPException(status.HTTP_500_INTERNAL_SERVER_ERROR,
                            f"recommendation failed on {served.ref}: {type(exc).__name__}: {exc}") from exc
    return RecommendResponse(model=served.name, version=served.version, task=served.task, recommendations=[
        Recommendation(items=[RecommendedItem(item=rec.item_ids[p], score=s, text=rec.item_texts[p]) for p, s in row],
                       cached=c) for row, c in zip(picks, vectors.cached)])
