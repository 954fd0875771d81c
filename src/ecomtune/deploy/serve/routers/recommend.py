"""POST /v1/recommend: task `recommend` — each history becomes a user vector through the micro-batcher (the LRU
cache keeps the vectors of recent histories, keyed by the item sequence and the profile text, if any), then the
catalogue index answers in the model's micro-batches (`state.lookup`: one search per batch, on the
inference thread)."""
from __future__ import annotations

from fastapi import APIRouter, Depends, Request

from ecomtune.deploy.serve.deps import pick_model, ready_state
from ecomtune.deploy.serve.guards import clip
from ecomtune.deploy.serve.routers import failed
from ecomtune.deploy.serve.schemas import (
    ERRORS,
    Recommendation,
    RecommendedItem,
    RecommendRequest,
    RecommendResponse,
    reject,
    text_problem,
)
from ecomtune.deploy.serve.service import ServingState

router = APIRouter(tags=["recommend"])


def _check(body: RecommendRequest, rec, settings) -> list:
    """422 naming the first bad field: no histories, too many, an empty one, an item not in the catalogue, or
    profiles the model cannot use / cannot read / that do not line up with the histories."""
    problems = []
    if body.profiles is not None:
        if not rec.uses_profiles:
            problems.append((("profiles",), ("this model has no profile input (train a two_tower model with "
                                             "`data.users`) — leave `profiles` out")))
        elif len(body.profiles) != len(body.histories):
            problems.append((("profiles",), (f"{len(body.profiles)} profiles for {len(body.histories)} histories "
                                             "— send one per history (null for none)")))
        for i, profile in enumerate(body.profiles[:settings.max_items]):
            if profile is not None and (problem := text_problem(profile, settings, "profile", blank_ok=True)):
                problems.append((("profiles", i), problem))
    if not body.histories:
        problems.append((("histories",), "empty list — send at least one history"))
    elif len(body.histories) > settings.max_items:
        problems.append((("histories",), f"{len(body.histories)} histories, at most {settings.max_items}"))
    positions = []
    for i, history in enumerate(body.histories[:settings.max_items]):
        if not history:
            problems.append((("histories", i), "empty history — send at least one item id"))
        unknown = [j for j, item in enumerate(history) if not rec.knows(item)]
        if unknown:
            j = unknown[0]
            problems.append((("histories", i, j), (f"unknown item {clip(repr(history[j]), 60)} — not in the "
                                                   f"catalogue ({rec.n_items} items)")))
        positions.append(rec.positions(history, strict=False))
    reject(problems)
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
        found = await state.lookup(served, vectors.results,
                                   [rec.depth(h, body.k, body.exclude_history) for h in positions])
        picks = rec.picks(positions, found, body.k, body.exclude_history)
    except Exception as exc:  # the worker survives; the client gets the reason
        raise failed("recommendation", served, exc) from exc
    return RecommendResponse(model=served.name, version=served.version, task=served.task, recommendations=[
        Recommendation(items=[RecommendedItem(item=rec.item_ids[p], score=s, text=rec.item_texts[p]) for p, s in row],
                       cached=c) for row, c in zip(picks, vectors.cached)])
