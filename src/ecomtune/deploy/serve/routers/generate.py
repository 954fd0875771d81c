"""POST /v1/generate: task `generate` — texts for inputs. Without `stream`, inputs go through the micro-batcher,
so concurrent clients' inputs are decoded together (one batched `generate` per set of decoding settings); with
`stream: true`, one input is decoded on its own and sent piece by piece as server-sent events.

Limits: `max_new_tokens` is at most 1024 (a request for 100k tokens is a 422, never a stuck worker), a prompt
longer than the run's `model.max_prompt_tokens` is a 422 naming the input, and at most `MAX_STREAMS` streams wait
or decode at once (a 429 beyond, with Retry-After)."""
from __future__ import annotations

import asyncio
import json

from fastapi import APIRouter, Depends, HTTPException, Request, status
from fastapi.responses import StreamingResponse

from ecomtune.deploy.serve.deps import pick_model, ready_state
from ecomtune.deploy.serve.routers import failed
from ecomtune.deploy.serve.schemas import (
    ERRORS,
    GeneratedText,
    GenerateRequest,
    GenerateResponse,
    check_texts,
)
from ecomtune.deploy.serve.service import ServingState

router = APIRouter(tags=["generate"])
MAX_STREAMS = 8
_streams = {"open": 0}
EVENT = {"type": "object", "description": "`{\"text\": piece}` per piece, then `{\"done\": true, \"text\": ...}`, "
         "or an `error` event `{\"detail\": ...}`", "properties": {"text": {"type": "string"}, "done": {"type": "boolean"}}}
STREAM_RESPONSE = {200: {"content": {"text/event-stream": {"schema": EVENT}},
                         "description": "JSON (`stream: false`) or server-sent events (`stream: true`)"},
                   429: ERRORS[422] | {"description": "Too many open streams"}}


def _checked(body: GenerateRequest, served, state: ServingState) -> dict:
    check_texts(body.inputs, state.settings, "inputs", "input")
    generator = served.model
    try:
        settings = generator.lm.with_settings(body.overrides())
    except ValueError as exc:  # pydantic: a combination the schema cannot say
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, f"decoding settings: {exc}") from None
    limit = generator.limits["max_prompt_tokens"]
    for i, source in enumerate(body.inputs):
        n = len(generator.lm.format.full_ids(source))
        if n > limit:
            raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT,
                                f"inputs[{i}]: the prompt is {n} tokens, over this model's {limit} — shorten it")
    return settings.model_dump()


@router.post("/v1/generate", response_model=GenerateResponse, responses={**ERRORS, **STREAM_RESPONSE})
async def generate(body: GenerateRequest, request: Request, state: ServingState = Depends(ready_state)):
    """Texts for `inputs` from a `generate` model; `stream: true` sends one input's text as it is decoded."""
    served = pick_model(state, request, "generate", body.model)
    settings = _checked(body, served, state)
    if body.stream:
        return _stream(body, served, settings)
    items = [json.dumps({"input": s, "settings": settings}, ensure_ascii=False) for s in body.inputs]
    try:
        texts = await served.batcher.submit(items)
    except Exception as exc:  # the worker survives; the client gets the reason
        raise failed("generation", served, exc) from exc
    generator = served.model
    return GenerateResponse(model=served.name, version=served.version, task=served.task, outputs=[
        GeneratedText(input=s, text=t, attributes=generator.check(s, t)) for s, t in zip(body.inputs, texts)])


def _stream(body: GenerateRequest, served, settings: dict) -> StreamingResponse:
    if len(body.inputs) != 1:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, "inputs: streaming answers one input — send one")
    if _streams["open"] >= MAX_STREAMS:
        raise HTTPException(status.HTTP_429_TOO_MANY_REQUESTS, f"{MAX_STREAMS} streams are open — retry shortly",
                            headers={"Retry-After": "1"})
    generator, source = served.model, body.inputs[0]
    _streams["open"] += 1

    async def events():
        pieces: asyncio.Queue = asyncio.Queue()
        loop = asyncio.get_running_loop()

        def produce():
            try:
                for piece in generator.lm.stream(source, generator.lm.with_settings(settings)):
                    loop.call_soon_threadsafe(pieces.put_nowait, ("text", piece))
                loop.call_soon_threadsafe(pieces.put_nowait, ("end", None))
            except Exception as exc:  # noqa: BLE001 - sent to the client as an error event
                loop.call_soon_threadsafe(pieces.put_nowait, ("error", f"{type(exc).__name__}: {exc}"))

        worker = loop.run_in_executor(None, produce)
        text = []
        try:
            while True:
                kind, value = await pieces.get()
                if kind == "text":
                    text.append(value)
                    yield f"data: {json.dumps({'text': value}, ensure_ascii=False)}\n\n"
                elif kind == "error":
                    yield f"event: error\ndata: {json.dumps({'detail': value}, ensure_ascii=False)}\n\n"
                    break
                else:
                    whole = "".join(text).strip()
                    done = {"done": True, "model": served.name, "version": served.version, "task": served.task,
                            "text": whole, "attributes": generator.check(source, whole)}
                    yield f"data: {json.dumps(done, ensure_ascii=False)}\n\n"
                    break
            await worker
        finally:
            _streams["open"] -= 1

    return StreamingResponse(events(), media_type="text/event-stream", headers={"Cache-Control": "no-cache"})

