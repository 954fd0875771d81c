"""Typed requests and responses (they are the OpenAPI schema at /docs)."""
from __future__ import annotations

from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ConfigDict, Field

from ecomtune.deploy.serve.settings import ServeSettings


class PredictRequest(BaseModel):
    """Texts to label, with the model to use (`name` or `name@version`; optional when one model fits)."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={
        "examples": [{"texts": ["Love this dress, fits perfectly", "Fabric tore after one wash"]}]})

    model: str | None = Field(None, description="`name` (latest version) or `name@version`; see GET /v1/models.")
    texts: list[str] = Field(..., description="One or more texts (limits: see the service's settings).")


def check_texts(texts: list[str], settings: ServeSettings) -> None:
    """Limits that depend on the settings; a 422 naming the first offending field (`texts[3]: empty text`)."""
    problems = []
    if not texts:
        problems.append((("body", "texts"), "empty list — send at least one text", texts))
    elif len(texts) > settings.max_items:
        problems.append((("body", "texts"), f"{len(texts)} texts, at most {settings.max_items} per request",
                         len(texts)))
    for i, text in enumerate(texts[:settings.max_items]):
        if not text.strip():
            problems.append((("body", "texts", i), "empty text", text))
        elif len(text) > settings.max_text_chars:
            problems.append((("body", "texts", i), f"{len(text)} characters, at most {settings.max_text_chars}",
                             len(text)))
    if problems:
        raise RequestValidationError([{"type": "value_error", "loc": loc, "msg": msg, "input": value}
                                      for loc, msg, value in problems])


class LabelPrediction(BaseModel):
    """Task `classify`: the most probable label, its probability, and every label's probability."""

    label: str
    score: float
    probs: dict[str, float]
    cached: bool = Field(description="Served from the prediction cache.")


class HeadsPrediction(BaseModel):
    """Task `multitask`: a label, score and probabilities per head (label column)."""

    labels: dict[str, str]
    scores: dict[str, float]
    probs: dict[str, dict[str, float]]
    cached: bool


class PathPrediction(BaseModel):
    """Task `taxonomy`: the most probable existing path, its probability (product of the levels') and each level's."""

    label: str = Field(description="The path joined with ' > '.")
    path: list[str]
    score: float
    level_scores: dict[str, float]
    cached: bool


class _Served(BaseModel):
    model: str = Field(description="The model's name.")
    version: str
    task: str


class ClassifyResponse(_Served):
    predictions: list[LabelPrediction | HeadsPrediction]


class TaxonomyResponse(_Served):
    predictions: list[PathPrediction]


class ModelInfo(BaseModel):
    name: str
    version: str
    ref: str = Field(description="`name@version`, accepted as `model` in requests.")
    latest: bool = Field(description="What `model: name` resolves to.")
    task: str
    endpoint: str | None
    language: str | None
    labels: dict[str, list[str]] | None = Field(description="Labels per level / head (classifiers only).")
    test_metrics: dict | None
    backbone: str | None
    created: str | None
    runtime: dict | str | None = None
    monitor: bool


class ModelsResponse(BaseModel):
    models: list[ModelInfo]


class ErrorResponse(BaseModel):
    detail: str


class SearchRequest(BaseModel):
    """Queries to search the catalogue with (task `search`); `rerank` re-scores the top N with the cross-encoder."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={
        "examples": [{"queries": ["men navy blue casual shirts", "red heels for women"], "k": 10}]})

    model: str | None = Field(None, description="`name` (latest version) or `name@version`; see GET /v1/models.")
    queries: list[str] = Field(..., description="One or more queries (limits: see the service's settings).")
    k: int = Field(10, ge=1, le=1000, description="Products per query, 1-1000.")
    rerank: bool = Field(False, description="Re-rank the bi-encoder's top N with the cross-encoder (slower).")


def check_queries(queries: list[str], settings: ServeSettings) -> None:
    """`check_texts` for the `queries` field: a 422 naming it (`queries[0]: empty text`)."""
    try:
        check_texts(queries, settings)
    except RequestValidationError as exc:
        errors = [{**e, "loc": ("body", "queries", *e["loc"][2:]),
                   "msg": e["msg"].replace("texts", "queries").replace("text", "query")} for e in exc.errors()]
        raise RequestValidationError(errors) from None


class SearchHit(BaseModel):
    id: str = Field(description="The product id.")
    text: str = Field(description="The product text the model reads (its title).")
    score: float = Field(description="Cosine similarity (bi-encoder) or the re-ranker's logit (`rerank: true`).")


class SearchResult(BaseModel):
    query: str
    results: list[SearchHit]
    cached: bool = Field(description="The query embedding came from the cache.")


class SearchResponse(_Served):
    reranked: bool
    searches: list[SearchResult]


class RecommendRequest(BaseModel):
    """User histories (external item ids, oldest first) to recommend for (task `recommend`)."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={
        "examples": [{"histories": [["12", "7", "301"], ["5"]], "k": 10}]})

    model: str | None = Field(None, description="`name` (latest version) or `name@version`; see GET /v1/models.")
    histories: list[list[str]] = Field(..., description="One history per user: item ids, oldest first.")
    profiles: list[str | None] | None = Field(None, description="Optional profile text per history (same length; "
                                              "null = none), for two-tower models trained with `data.users`.")
    k: int = Field(10, ge=1, le=1000, description="Items per user, 1-1000.")
    exclude_history: bool = Field(True, description="Leave the user's own items out of the answer.")


class RecommendedItem(BaseModel):
    item: str
    score: float = Field(description="The model's score (user · item).")
    text: str = Field(description="The item's text, when the catalogue has one.")


class Recommendation(BaseModel):
    items: list[RecommendedItem]
    cached: bool = Field(description="The user vector came from the embedding cache.")


class RecommendResponse(_Served):
    recommendations: list[Recommendation]
