"""What stands between a client and the app: the API key and the body-size limit (pure ASGI middleware, so both
answer before anything reads or parses the body), and the error body every failure shares.

An error is `{"detail": "<one line>"}` (422s add `errors`, one entry per problem), never longer than `MAX_DETAIL`
characters and never holding the request's content beyond a short prefix: a client cannot make the service echo
a 20 MB body, or a string JSON cannot encode (a lone surrogate), into its answer.
"""
from __future__ import annotations

import secrets

from starlette.datastructures import Headers
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

MAX_DETAIL = 300
OPEN_PATHS = frozenset({"/healthz", "/readyz", "/metrics", "/guide"})  # probes and scrapers carry no key; the
# shopper's page is static (a browser cannot send the key to load it; the page sends it with each request)


def clip(text: str, limit: int = MAX_DETAIL) -> str:
    """`text` safe to send back: at most `limit` characters, lone surrogates escaped (`\\ud800`)."""
    safe = text[:limit + 1].encode("utf-8", "backslashreplace").decode("utf-8")
    return safe if len(safe) <= limit else safe[:limit - 1] + "…"


def error_response(status: int, detail: str, errors: list[dict] | None = None,
                   headers: dict | None = None) -> JSONResponse:
    body = {"detail": clip(detail)} if errors is None else {"detail": clip(detail), "errors": errors}
    return JSONResponse(body, status_code=status, headers=headers)


def _given_key(headers: Headers) -> str | None:
    if key := headers.get("x-api-key"):
        return key
    scheme, _, token = headers.get("authorization", "").partition(" ")
    return (token.strip() or None) if scheme.lower() == "bearer" else None


class ApiKeyMiddleware:
    """401 unless the request sends the key (X-API-Key or Authorization: Bearer) — before the body is read, so an
    unauthenticated client learns nothing about what it sent; every path but `OPEN_PATHS` needs it, docs included."""

    def __init__(self, app: ASGIApp, key: str, open_paths: frozenset[str] = OPEN_PATHS):
        self.app = app
        self.key = key.encode()
        self.open_paths = open_paths  # OPEN_PATHS, plus the console's page shells when it is mounted

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in self.open_paths:
            return await self.app(scope, receive, send)
        given = _given_key(Headers(scope=scope))
        # headers arrive latin-1 decoded: compare the raw bytes the client sent (timing-safe)
        if given is not None and secrets.compare_digest(given.encode("latin-1"), self.key):
            return await self.app(scope, receive, send)
        what = "wrong API key" if given else "missing API key"
        response = error_response(401, f"{what} — send it as X-API-Key or Authorization: Bearer",
                                  headers={"WWW-Authenticate": "Bearer"})
        await response(scope, receive, send)


class BodyLimitMiddleware:
    """413 for a body over `limit` bytes, before it is parsed: a declared Content-Length is checked first, then the
    body (chunked or not) is read here, counted, and handed on whole."""

    def __init__(self, app: ASGIApp, limit: int):
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        declared = Headers(scope=scope).get("content-length", "")
        if declared.isdigit() and int(declared) > self.limit:
            return await self._too_large(scope, receive, send)
        chunks, size, more = [], 0, True
        while more:
            message = await receive()
            if message["type"] != "http.request":  # the client went away
                return
            chunks.append(message.get("body", b""))
            size += len(chunks[-1])
            if size > self.limit:
                return await self._too_large(scope, receive, send)
            more = message.get("more_body", False)
        body, replayed = b"".join(chunks), False

        async def replay():
            nonlocal replayed
            if replayed:  # after the body, the app only waits for a disconnect
                return await receive()
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}

        await self.app(scope, replay, send)

    async def _too_large(self, scope: Scope, receive: Receive, send: Send) -> None:
        detail = (f"request body over {self.limit} bytes — send fewer or shorter texts, or raise the server's "
                  f"--max-body-bytes")
        await error_response(413, detail, headers={"Connection": "close"})(scope, receive, send)
