"""POST /v1/guide: task `guide` — a room photo and/or a request -> a bundle within budget, with reasons. JSON (photo
base64) or a multipart upload (`photo` file, `text`, `history`, `budget` fields). GET /guide is the shopper's page
(upload a photo, type a request, see the bundle); GET /v1/guide/photos/{id} serves the catalogue's photos."""
from __future__ import annotations

import asyncio
import base64
import json
from pathlib import Path

from fastapi import APIRouter, Depends, HTTPException, Request, status
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, HTMLResponse
from pydantic import ValidationError

from ecomtune.deploy.serve.deps import pick_model, ready_state
from ecomtune.deploy.serve.guards import clip
from ecomtune.deploy.serve.routers import failed
from ecomtune.deploy.serve.schemas import ERRORS, GuideRequest, GuideResponse
from ecomtune.deploy.serve.service import ServingState
from ecomtune.errors import EcomtuneError

router = APIRouter(tags=["guide"])
UPLOAD = "multipart/form-data"
FIELDS = ("text", "history", "budget", "max_pieces", "must_have", "model")
BODY = {"requestBody": {"required": True, "content": {
    "application/json": {"schema": GuideRequest.model_json_schema()},
    UPLOAD: {"schema": {"type": "object", "additionalProperties": False, "properties": {
        "photo": {"type": "string", "format": "binary", "description": "The room photo."},
        "text": {"type": "string", "maxLength": 4000},
        "history": {"type": "string", "description": "Comma-separated product ids (at most 200)."},
        "budget": {"type": "number", "minimum": 0, "maximum": 1e9},
        "max_pieces": {"type": "integer", "minimum": 1, "maximum": 15},
        "must_have": {"type": "string", "description": "Comma-separated pieces."},
        "model": {"type": "string"}}}}}}}


def _validated(data: dict) -> GuideRequest:
    try:
        return GuideRequest.model_validate(data)
    except ValidationError as exc:
        raise RequestValidationError([{**e, "loc": ("body", *e["loc"])} for e in exc.errors()]) from None


async def _read(request: Request) -> tuple[GuideRequest, bytes | None]:
    kind = request.headers.get("content-type", "").lower()
    if kind.startswith(UPLOAD):
        async with request.form() as form:
            unknown = [k for k in form if k not in (*FIELDS, "photo")]
            if unknown:
                raise HTTPException(422, f"{clip(unknown[0], 40)}: unknown field — send photo, {', '.join(FIELDS)}")
            data = {k: form.get(k) for k in FIELDS if form.get(k) not in (None, "")}
            for k in ("history", "must_have"):
                if k in data:
                    data[k] = [v.strip() for v in str(data[k]).split(",") if v.strip()]
            photo = form.get("photo")
            raw = await photo.read() if photo is not None and not isinstance(photo, str) else None
        return _validated(data), raw or None
    if kind and "json" not in kind.split(";")[0]:
        raise HTTPException(status.HTTP_415_UNSUPPORTED_MEDIA_TYPE, f"content type {clip(kind, 60)} — send "
                            f"application/json or {UPLOAD}")
    try:
        data = json.loads(await request.body())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise HTTPException(400, f"body: not JSON ({clip(str(exc), 80)})") from None
    return _validated(data), None


def _base64(text: str) -> bytes:
    """A JSON request's photo (after the model is picked: an unknown model is named first)."""
    text = text.partition(",")[2] if text.startswith("data:") else text
    try:
        return base64.b64decode("".join(text.split()), validate=True)
    except ValueError as exc:
        raise RequestValidationError([{"type": "value_error", "loc": ("body", "photo"),
                                       "msg": f"not valid base64 ({exc}) — send the photo's bytes base64-encoded"}]
                                     ) from None


def _photo(raw: bytes, settings):
    from PIL import Image, UnidentifiedImageError

    from ecomtune.tasks.image_classify.images import open_rgb

    if len(raw) > settings.max_image_bytes:
        raise HTTPException(413, f"photo: {len(raw):,} bytes, at most {settings.max_image_bytes:,} — send a smaller "
                                 "photo, or raise the server's --max-image-bytes")
    try:
        image = open_rgb(raw, draft=1024)
        image.load()
        return image
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, Image.DecompressionBombError) as exc:
        raise HTTPException(422, f"photo: not an image Pillow can read ({clip(str(exc), 60)}) — send a JPEG, PNG "
                                 "or WebP") from None


@router.post("/v1/guide", response_model=GuideResponse, responses=ERRORS, openapi_extra=BODY)
async def guide(request: Request, state: ServingState = Depends(ready_state)) -> GuideResponse:
    """A bundle for a room: the pieces it needs, one product each, within the budget, with a reason per item."""
    body, raw = await _read(request)
    served = pick_model(state, request, "guide", body.model)
    if raw is None and body.photo:
        raw = _base64(body.photo)
    photo = await asyncio.to_thread(_photo, raw, state.settings) if raw else None
    try:
        answer = await asyncio.to_thread(served.model.ask, photo=photo, text=body.text, history=body.history,
                                         budget=body.budget, max_pieces=body.max_pieces,
                                         must_have=body.must_have or None)
    except EcomtuneError as exc:  # nothing to go on, an unknown piece, a budget below the must-haves
        raise HTTPException(422, str(exc)) from None
    except Exception as exc:  # the worker survives; the client gets the reason
        raise failed("guide", served, exc) from exc
    for item in answer["items"]:
        item["image"] = f"/v1/guide/photos/{item['id']}?model={served.ref}" if item["image"] else None
    return GuideResponse(model=served.name, version=served.version, task=served.task, **answer)


@router.get("/v1/guide/photos/{product_id}", include_in_schema=False)
async def photo(product_id: str, request: Request, model: str | None = None,
                state: ServingState = Depends(ready_state)):
    served = pick_model(state, request, "guide", model)
    path = served.model.photo_path(product_id)
    if path is None:
        raise HTTPException(404, f"product {clip(product_id, 40)} has no photo in {served.ref}")
    return FileResponse(path)


@router.get("/guide", response_class=HTMLResponse, include_in_schema=False)
async def page() -> HTMLResponse:
    """The shopper's page: upload a room photo, type a request, see the bundle."""
    return HTMLResponse((Path(__file__).parent / "guide.html").read_text(encoding="utf-8"))
