"""Typed requests and responses (they are the OpenAPI schema at /docs; openapi.py adds the app's limits).

Requests are strict, as their schema reads: no coercion (`"rerank": 0` is not `false`, `"k": "5"` not `5`)."""
from __future__ import annotations

import re
from typing import Annotated, Literal

from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from ecomtune.deploy.serve.settings import ServeSettings


# Not blank: a character outside this set, spelled out so that the server (Python's `re`) and the schema's
# `pattern` (ECMA-262) agree — their `\s` differ on U+001C-U+001F, U+0085 and U+FEFF.
NOT_BLANK = r"[^ \t\n\v\f\r\x1c-\x1f\x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\ufeff]"
_NOT_BLANK = re.compile(NOT_BLANK)


def _whole(value):
    return int(value) if isinstance(value, float) and value.is_integer() else value


WholeNumber = Annotated[int, BeforeValidator(_whole)]  # JSON Schema's `integer`: 10.0 is one, 10.5 and "10" are not


class PredictRequest(BaseModel):
    """Texts to label, with the model to use (`name` or `name@version`; optional when one model fits)."""

    model_config = ConfigDict(extra="forbid", strict=True, json_schema_extra={
        "examples": [{"texts": ["Love this dress, fits perfectly", "Fabric tore after one wash"]}]})

    model: str | None = Field(None, description="`name` (latest version) or `name@version`; see GET /v1/models.")
    texts: list[str] = Field(..., description="One or more texts (limits: this schema, from the server's settings).")
    explain: bool = Field(False, description="Add each prediction's `explanation`: per-word attributions for its "
                                             "label (integrated gradients, or occlusion on compressed runs); at most "
                                             "16 texts per explained request (docs/explain.md).")


def text_problem(text: str, settings: ServeSettings, noun: str = "text", blank_ok: bool = False) -> str | None:
    """Why a model cannot take `text` (None when it can): blank, too long, or not encodable as UTF-8 (a lone
    surrogate, which JSON can carry as `\\ud800` but a tokenizer cannot read)."""
    if not blank_ok and not _NOT_BLANK.search(text):
        return f"empty {noun}"
    if len(text) > settings.max_text_chars:
        return f"{len(text)} characters, at most {settings.max_text_chars}"
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        return f"not valid Unicode at character {exc.start} (a lone surrogate such as \\ud800) — send UTF-8 text"
    return None


def reject(problems: list[tuple[tuple, str]]) -> None:
    """A 422 listing `(loc, message)` problems, e.g. `(("texts", 3), "empty text")`."""
    if problems:
        raise RequestValidationError([{"type": "value_error", "loc": ("body", *loc), "msg": msg}
                                      for loc, msg in problems])


def check_texts(texts: list[str], settings: ServeSettings, field: str = "texts", noun: str = "text") -> None:
    """Limits that depend on the settings (declared in the app's OpenAPI schema too) and what a tokenizer cannot
    read: a 422 naming each offending item (`texts[3]: empty text`)."""
    problems = []
    if not texts:
        problems.append(((field,), f"empty list — send at least one {noun}"))
    elif len(texts) > settings.max_items:
        problems.append(((field,), f"{len(texts)} {noun}s, at most {settings.max_items} per request"))
    for i, text in enumerate(texts[:settings.max_items]):
        if problem := text_problem(text, settings, noun):
            problems.append(((field, i), problem))
    reject(problems)


class TextExplanation(BaseModel):
    """Why a text got its label (`"explain": true`): one score per word, largest |score| = 1; positive words
    pushed towards `target`, negative ones away."""

    method: Literal["integrated_gradients", "occlusion"]
    target: str = Field(description="The label explained: the prediction's (taxonomy: its finest level; "
                                    "multitask: the first head's).")
    tokens: list[str] = Field(description="The words of the text as the model read it (word pieces merged).")
    scores: list[float] = Field(description="One per token, in -1..1.")


class ImageExplanation(BaseModel):
    """Where an image model looked (`"explain": true`): the Grad-CAM heatmap of the predicted class."""

    method: Literal["grad_cam"]
    target: str = Field(description="The label explained (the finest level's).")
    heatmap_png: str = Field(description="Base64 PNG: the centre crop the model read, the heatmap blended over it.")


class LabelPrediction(BaseModel):
    """Task `classify`: the most probable label, its probability, and every label's probability."""

    label: str
    score: float
    probs: dict[str, float]
    cached: bool = Field(description="Served from the prediction cache.")
    explanation: TextExplanation | ImageExplanation | None = Field(
        None, description="Only when the request asked for it (`explain`).")


class HeadsPrediction(BaseModel):
    """Task `multitask`: a label, score and probabilities per head (label column)."""

    labels: dict[str, str]
    scores: dict[str, float]
    probs: dict[str, dict[str, float]]
    cached: bool
    explanation: TextExplanation | None = Field(None, description="Only when the request asked for it (`explain`).")


class PathPrediction(BaseModel):
    """Task `taxonomy`: the most probable existing path, its probability (product of the levels') and each level's."""

    label: str = Field(description="The path joined with ' > '.")
    path: list[str]
    score: float
    level_scores: dict[str, float]
    cached: bool
    explanation: TextExplanation | ImageExplanation | None = Field(
        None, description="Only when the request asked for it (`explain`).")


class _Served(BaseModel):
    model: str = Field(description="The model's name.")
    version: str
    task: str


class ClassifyResponse(_Served):
    predictions: list[LabelPrediction | HeadsPrediction]


class TaxonomyResponse(_Served):
    predictions: list[PathPrediction]


class ImageRequest(BaseModel):
    """Images to label (task `image-classify`), base64-encoded — or send them as files: a multipart/form-data
    upload with one or more `files` parts and an optional `model` field."""

    model_config = ConfigDict(extra="forbid", strict=True, json_schema_extra={
        "examples": [{"images": ["/9j/4AAQSkZJRgABAQ…"]}]})

    model: str | None = Field(None, description="`name` (latest version) or `name@version`; see GET /v1/models.")
    images: list[str] = Field(..., description="One or more images (JPEG, PNG, WebP, BMP, GIF, TIFF), each "
                                               "base64-encoded; a `data:image/…;base64,` prefix is allowed.")
    explain: bool = Field(False, description="Add each prediction's `explanation`: the Grad-CAM heatmap of its "
                                             "label as a base64 PNG (docs/explain.md).")


class ImageResponse(_Served):
    predictions: list[LabelPrediction | PathPrediction] = Field(description="One per image, in the order sent: "
                                                                            "a label, or a taxonomy path.")


class Health(BaseModel):
    status: str = Field(description="`alive`.")


class Readiness(BaseModel):
    status: str = Field(description="`ready`, `loading` or `failed`.")
    models: list[str] | None = Field(None, description="`name@version` of each served model, once ready.")
    detail: str | None = Field(None, description="Why loading failed.")


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


class ErrorItem(BaseModel):
    loc: list[str | int] = Field(description="Where: e.g. [\"body\", \"texts\", 3].")
    msg: str
    type: str


class ErrorResponse(BaseModel):
    """Every error answer: one line naming the field and the fix; it never echoes the request beyond a short prefix."""

    detail: str = Field(max_length=300, description="E.g. `texts[3]: empty text`.")
    errors: list[ErrorItem] | None = Field(None, description="422 only: each problem found (the first 10).")


ERRORS = {code: {"model": ErrorResponse, "description": what} for code, what in (
    (400, "Unreadable body, or a request the served models cannot answer (e.g. several could: name one)"),
    (404, "Unknown model, or one of another task"), (413, "Body over the server's --max-body-bytes"),
    (422, "A field breaks the schema or a limit"), (500, "Inference failed"), (503, "Models still loading"))}


class SearchRequest(BaseModel):
    """Queries to search the catalogue with (task `search`); `rerank` re-scores the top N with the cross-encoder."""

    model_config = ConfigDict(extra="forbid", strict=True, json_schema_extra={
        "examples": [{"queries": ["men navy blue casual shirts", "red heels for women"], "k": 10}]})

    model: str | None = Field(None, description="`name` (latest version) or `name@version`; see GET /v1/models.")
    queries: list[str] = Field(..., description="One or more queries (limits as for `texts`).")
    k: WholeNumber = Field(10, ge=1, le=1000, description="Products per query, 1-1000.")
    rerank: bool = Field(False, description="Re-rank the bi-encoder's top N with the cross-encoder (slower).")


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

    model_config = ConfigDict(extra="forbid", strict=True, json_schema_extra={
        "examples": [{"histories": [["12", "7", "301"], ["5"]], "k": 10}]})

    model: str | None = Field(None, description="`name` (latest version) or `name@version`; see GET /v1/models.")
    histories: list[list[str]] = Field(..., description="One history per user: item ids, oldest first.")
    profiles: list[str | None] | None = Field(None, description="Optional profile text per history (same length; "
                                              "null = none), for two-tower models trained with `data.users`.")
    k: WholeNumber = Field(10, ge=1, le=1000, description="Items per user, 1-1000.")
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


class GuideRequest(BaseModel):
    """A shopper's question to a `guide` model: a room photo (base64) and/or a request in Chinese or English — or
    a multipart/form-data upload with a `photo` file and the other fields as text fields."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={
        "examples": [{"text": "给五岁女儿布置儿童房，预算5000"}, {"text": "cosy bedroom for a teenager, under $600"}]})

    model: str | None = Field(None, description="`name` (latest version) or `name@version`; see GET /v1/models.")
    text: str | None = Field(None, max_length=4000, description="The request, e.g. `cosy bedroom under 600`.")
    photo: str | None = Field(None, description="A room photo, base64 (a `data:image/…;base64,` prefix is allowed).")
    history: list[str] = Field(default_factory=list, max_length=200,
                               description="Product ids the shopper bought or viewed (style, and pieces owned).")
    budget: float | None = Field(None, ge=0, le=1e9, description="Overrides a budget written in `text`.")
    max_pieces: int | None = Field(None, ge=1, le=15, description="Pieces in the bundle (default: the guide's).")
    must_have: list[str] = Field(default_factory=list, max_length=15, description="Pieces the bundle must hold, "
                                                                                  "e.g. `bed`.")


class GuideItem(BaseModel):
    piece: str
    piece_name: str
    piece_zh: str
    id: str
    name: str
    type: str
    price: float | None
    image: str | None = Field(description="GET this path for the product photo, or null.")
    link: str | None
    score: float
    reasons: list[str]


class GuideResponse(_Served):
    request: dict = Field(description="What was read from the request: scene, budget, styles, colours, must-haves.")
    scene: str
    scene_from: str = Field(description="Where the scene came from: request, photo, or both agreeing.")
    photo_scenes: dict[str, float] | None
    budget: float | None
    currency: str
    pieces: list[str]
    items: list[GuideItem]
    total: float | None
    left: float | None
    within_budget: bool
    coherence: float
    optimal: bool = Field(description="The bundle solver proved the bundle optimal.")
    missing: list[str]
    owned: list[str]
    notes: list[str]
    seconds: float


class GenerateRequest(BaseModel):
    """Inputs to write texts for (task `generate`), with optional decoding overrides; `stream: true` answers one
    input as server-sent events (`data: {"text": piece}` per piece, then `data: {"done": true, ...}`)."""

    model_config = ConfigDict(extra="forbid", strict=True, json_schema_extra={
        "examples": [{"inputs": ["类型#上衣*材质#牛仔布*颜色#白色*风格#简约"], "max_new_tokens": 96}]})

    model: str | None = Field(None, description="`name` (latest version) or `name@version`; see GET /v1/models.")
    inputs: list[str] = Field(..., description="One or more inputs (limits as for `texts`; one when streaming).")
    stream: bool = Field(False, description="Send the text as it is decoded (server-sent events); one input.")
    strategy: Literal["greedy", "beam", "sample"] | None = Field(None, description="Decoding (default: the run's).")
    max_new_tokens: int | None = Field(None, ge=1, le=1024, description="New tokens at most, 1-1024.")
    temperature: float | None = Field(None, ge=0.01, le=5, description="sample: softmax temperature, 0.01-5.")
    top_p: float | None = Field(None, gt=0, le=1, description="sample: nucleus mass.")
    repetition_penalty: float | None = Field(None, ge=1, le=3, description="Penalty on repeated tokens.")
    num_beams: int | None = Field(None, ge=1, le=8, description="beam: beams kept.")
    seed: int | None = Field(None, ge=0, le=2**32 - 1, description="sample: a seed for a reproducible sample.")

    def overrides(self) -> dict:
        return {k: v for k, v in self.model_dump(exclude={"model", "inputs", "stream"}).items() if v is not None}


class GeneratedText(BaseModel):
    input: str
    text: str
    attributes: dict | None = Field(None, description="Attribute inputs: `coverage` (share of the input's values "
                                                      "the text mentions) and `contradictions`.")


class GenerateResponse(_Served):
    outputs: list[GeneratedText]


class QuestionAsk(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    product: str = Field(..., min_length=1, max_length=200, description="The product id (e.g. an ASIN).")
    question: str = Field(..., min_length=1, max_length=1000, description="The shopper's question.")


class QARequest(BaseModel):
    """Shoppers' questions about products (task `qa`), answered from each product's other answered questions."""

    model_config = ConfigDict(extra="forbid", strict=True, json_schema_extra={
        "examples": [{"questions": [{"product": "B00004U9JP", "question": "Will it fit under my sink?"}]}]})

    model: str | None = Field(None, description="`name` (latest version) or `name@version`; see GET /v1/models.")
    questions: list[QuestionAsk] = Field(..., min_length=1, max_length=16, description="1-16 questions.")
    max_new_tokens: int | None = Field(None, ge=1, le=512, description="New tokens at most, 1-512.")


class QAAnswer(BaseModel):
    product: str
    question: str
    answer: str
    supported: bool = Field(description="The product's Q&A matched the question (else `answer` says it does not).")
    known_product: bool
    yes_no: dict | None = Field(None, description="Yes/no questions: {answer, p_yes} from the yes/no answerer.")
    context: list[dict] = Field(description="The product's answered questions the answer drew on, best first.")


class QAResponse(_Served):
    answers: list[QAAnswer]
