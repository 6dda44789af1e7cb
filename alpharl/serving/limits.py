"""Request limits enforced before FastAPI parses anything: body size and the API key.

`RequestLimitMiddleware` is a pure ASGI middleware (no request object, no parsing). For
each HTTP request it

1. on a protected route (`PROTECTED_PREFIXES`: feedback and admin) checks the
   ``X-API-Key`` header first, so an unauthenticated client never gets its body read;
2. answers 413 at once when ``Content-Length`` says the body is larger than
   ``max_body_bytes``, and otherwise reads the body itself, counting bytes, and answers 413
   as soon as the count passes the limit (a chunked body has no ``Content-Length``);
3. hands the body it read to the app.

A body within the limit is held in memory once (the app would hold it anyway to parse it).
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Sequence

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from alpharl.serving.settings import ServeSettings

API_KEY_HEADER = "X-API-Key"
PROTECTED_PREFIXES: tuple[str, ...] = ("/v1/feedback", "/v1/admin/")
"""Routes that need the API key (and whose bodies are read only after it is checked)."""

_KEY = API_KEY_HEADER.lower().encode("latin-1")


def api_key_problem(settings: ServeSettings, key: bytes | None) -> tuple[int, str] | None:
    """``(status, detail)`` when ``key`` does not open a protected route, else None.

    503 while no key is configured; 401 for a missing or wrong key (constant-time compare).
    """
    expected = settings.api_key
    if expected is None:
        return 503, (
            "this route needs an API key and none is configured (set ALPHARL_SERVE_API_KEY)"
        )
    if key is None or not secrets.compare_digest(key, expected.get_secret_value().encode()):
        return 401, f"missing or wrong {API_KEY_HEADER} header"
    return None


def _header(headers: Sequence[tuple[bytes, bytes]], name: bytes) -> bytes | None:
    for key, value in headers:
        if key.lower() == name:
            return value
    return None


async def _answer(send: Send, status: int, detail: str, headers: list[tuple[bytes, bytes]]) -> None:
    body = json.dumps({"detail": detail}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),
                *headers,
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


class RequestLimitMiddleware:
    """Checks the API key of protected routes and the body size before the app runs.

    Args:
        app: The ASGI app to wrap.
        settings: Where ``api_key`` and ``max_body_bytes`` come from.
    """

    def __init__(self, app: ASGIApp, settings: ServeSettings) -> None:
        self.app = app
        self.settings = settings
        self.limit = settings.max_body_bytes

    def _too_large(self, size: str) -> str:
        return (
            f"the request body ({size}) is larger than the {self.limit} bytes allowed "
            "(ALPHARL_SERVE_MAX_BODY_BYTES)"
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = scope["headers"]
        if scope["path"].startswith(PROTECTED_PREFIXES):
            problem = api_key_problem(self.settings, _header(headers, _KEY))
            if problem is not None:
                status, detail = problem
                extra = [(b"www-authenticate", API_KEY_HEADER.encode())] if status == 401 else []
                await _answer(send, status, detail, extra)
                return
        length = _header(headers, b"content-length")
        if length is not None:
            if not length.isdigit():
                await _answer(send, 400, "Content-Length: must be a number of bytes", [])
                return
            if int(length) > self.limit:
                await _answer(send, 413, self._too_large(f"{int(length)} bytes"), [])
                return
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":  # the client left: let the app see it
                await self.app(scope, _replay([message], receive), send)
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.limit:
                await _answer(send, 413, self._too_large(f"{size} bytes read so far"), [])
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = {"type": "http.request", "body": b"".join(chunks), "more_body": False}
        await self.app(scope, _replay([body], receive), send)


def _replay(messages: list[Message], receive: Receive) -> Receive:
    """A ``receive`` that returns ``messages`` first, then waits on the real one."""
    pending = list(messages)

    async def replay() -> Message:
        if pending:
            return pending.pop(0)
        return await receive()

    return replay
