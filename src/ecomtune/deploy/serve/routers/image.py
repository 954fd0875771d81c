"""POST /v1/image: task `image-classify` — photos sent as files (multipart/form-data, field `files`) or base64 in
JSON (`images`). Each is decoded here, in a thread, so a bad one is refused by name before any batch; the decoded
images then go through the micro-batcher, and the cache keys each by a hash of its bytes."""
from __future__ import annotations

import asyncio
import base64
import hashlib
import json

from fastapi import APIRouter, Depends, HTTPException, Request, status
from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError

from ecomtune.deploy.serve.deps import pick_model, ready_state
from ecomtune.deploy.serve.guards import clip
from ecomtune.deploy.serve.routers import explain_off_loop, failed
from ecomtune.deploy.serve.schemas import (
    ERRORS,
    ErrorResponse,
    ImageRequest,
    ImageResponse,
    LabelPrediction,
    PathPrediction,
    reject,
)
from ecomtune.deploy.serve.service import ServingState

router = APIRouter(tags=["predict"])

UPLOAD = "multipart/form-data"
FORMATS = "JPEG, PNG, WebP, BMP, GIF or TIFF"
BODY = {"requestBody": {"required": True, "content": {
    "application/json": {"schema": ImageRequest.model_json_schema()},
    UPLOAD: {"schema": {"type": "object", "required": ["files"], "additionalProperties": False, "properties": {
        "files": {"type": "array", "items": {"type": "string", "format": "binary"},
                  "description": "One or more image files."},
        "model": {"type": "string", "description": "`name` or `name@version` (optional when one model fits)."},
        "explain": {"type": "string", "enum": ["true", "false"],
                    "description": "`true`: add each prediction's Grad-CAM `explanation`."}}}}}}}
RESPONSES = {**ERRORS, 415: {"model": ErrorResponse, "description": "Neither JSON nor a multipart upload"}}


def _json(raw: bytes) -> tuple[str, list[tuple[str, bytes | None]], str | None, list, bool]:
    """(field, [(name, bytes or None when not base64)], model, problems, explain) of a JSON body."""
    try:
        data = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise RequestValidationError([{"type": "json_invalid", "loc": ("body", exc.pos), "msg": "JSON decode error",
                                       "ctx": {"error": exc.msg}}]) from None
    except UnicodeDecodeError:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, "body: not UTF-8 — send JSON text") from None
    try:
        body = ImageRequest.model_validate(data)
    except ValidationError as exc:
        raise RequestValidationError([{**e, "loc": ("body", *e["loc"])} for e in exc.errors()]) from None
    items, problems = [], []
    for i, text in enumerate(body.images):
        if text.startswith("data:"):  # a data URL, as browsers write them
            text = text.partition(",")[2]
        try:
            items.append(("", base64.b64decode("".join(text.split()), validate=True)))
        except ValueError as exc:  # binascii.Error, or characters outside ASCII
            items.append(("", None))
            problems.append((("images", i), f"not valid base64 ({exc}) — send each image's bytes base64-encoded"))
    return "images", items, body.model, problems, body.explain


async def _form(request: Request) -> tuple[str, list[tuple[str, bytes | None]], str | None, list, bool]:
    """(field, [(file name, bytes)], model, problems, explain) of a multipart upload."""
    async with request.form() as form:
        problems = [((key,), "unknown field — send `files` (one or more) and optionally `model` and `explain`")
                    for key in dict.fromkeys(form.keys()) if key not in ("files", "model", "explain")]
        explain = form.getlist("explain")
        if explain not in ([], ["true"], ["false"]):
            problems.append((("explain",), "send `explain` once, as the text `true` or `false`"))
        models = form.getlist("model")
        model = models[0] if len(models) == 1 and isinstance(models[0], str) else None
        if models and model is None:
            problems.append((("model",), "send `model` once, as a text field"))
        files = form.getlist("files")
        items = []
        for i, f in enumerate(files):
            if isinstance(f, str):
                problems.append((("files", i), "a text field — send each image as a file part"))
                items.append(("", None))
            else:
                items.append((clip(f.filename or "", 60), await f.read()))
    return "files", items, model, problems, explain == ["true"]


def _decode(field: str, items: list[tuple[str, bytes | None]], problems: list, settings, draft: int) -> list:
    """The images as RGB PIL images; a 413 for one over the size limit, a 422 naming every other bad one."""
    from PIL import Image, UnidentifiedImageError

    from ecomtune.tasks.image_classify.images import open_rgb

    if not items:
        problems.append(((field,), "empty list — send at least one image"))
    elif len(items) > settings.max_items:
        problems.append(((field,), f"{len(items)} images, at most {settings.max_items} per request"))
    reject(problems)
    images = []
    for i, (name, data) in enumerate(items):
        if data is None:  # not base64, or not a file: in `problems` already
            continue
        named = f"{name}: " if name else ""
        if len(data) > settings.max_image_bytes:
            raise HTTPException(413, f"{field}[{i}]: {named}{len(data):,} bytes, at most "
                                     f"{settings.max_image_bytes:,} per image — send a smaller image, or raise the "
                                     "server's --max-image-bytes")
        try:
            image = open_rgb(data, draft=draft)
            image.load()
            images.append(image)
        except UnidentifiedImageError:
            what = "not an image Pillow can read" if data else "empty file (0 bytes)"
            problems.append(((field, i), f"{named}{what} — send {FORMATS}"))
        except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as exc:
            problems.append(((field, i), f"{named}unreadable or truncated image ({clip(str(exc), 80)})"))
    reject(problems)
    return images


@router.post("/v1/image", response_model=ImageResponse, responses=RESPONSES, openapi_extra=BODY,
             response_model_exclude_none=True)  # `explanation` only when asked
async def image(request: Request, state: ServingState = Depends(ready_state)) -> ImageResponse:
    """Label images with an `image-classify` model: a label, score and probabilities (or a taxonomy path) each."""
    kind = request.headers.get("content-type", "").lower()
    if kind.startswith(UPLOAD):
        field, items, model, problems, explain = await _form(request)
    elif not kind or "json" in kind.split(";")[0]:
        field, items, model, problems, explain = _json(await request.body())
    else:
        raise HTTPException(status.HTTP_415_UNSUPPORTED_MEDIA_TYPE, f"content type {clip(kind, 60)} — send "
                            f"{UPLOAD} (field `files`) or application/json ({{\"images\": [base64, …]}})")
    served = pick_model(state, request, "image", model)
    pre = served.model.pre
    draft = round(pre.size / pre.crop_pct)  # the scale `eval_array` decodes at: the pixels `ecomtune predict` sees
    images = await asyncio.to_thread(_decode, field, items, problems, state.settings, draft)
    keys = [hashlib.sha256(data).digest() for _, data in items]
    try:
        result = await state.predict(served, images, keys)
    except Exception as exc:  # the worker survives; the client gets the reason
        raise failed("inference", served, exc) from exc
    from ecomtune.tasks.image_classify.predict import describe

    rows = [describe(pred.tolist(), [p.tolist() for p in probs], served.model.space) for pred, probs in result.results]
    if explain:  # computed here, never cached: a cached prediction row carries no explanation
        from ecomtune.tasks.image_classify.explain import explain_images

        try:
            explained = await explain_off_loop(explain_images, served.model, images)
        except Exception as exc:  # e.g. an ONNX copy: the client gets the reason
            raise failed("explanation", served, exc) from exc
        for row, e in zip(rows, explained):
            row["explanation"] = {"method": e["method"], "target": e["target"],
                                  "heatmap_png": base64.b64encode(e["png"]).decode()}
    item = PathPrediction if served.model.space.depth > 1 else LabelPrediction
    return ImageResponse(model=served.name, version=served.version, task=served.task,
                         predictions=[item(**row, cached=c) for row, c in zip(rows, result.cached)])
