"""Request body limits (413 over the limit, announced or streamed) and the security headers
every answer carries."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

#: Before answering 413, read and drop at most this much of the rest of an oversized body, for
#: at most DRAIN_SECONDS: a client still sending then reads the answer instead of a connection
#: reset (closing a socket with unread data resets it).  Beyond either bound the connection is
#: simply closed: a refused body never costs more than this.
DRAIN_LIMIT = 64 * 1024 * 1024
DRAIN_SECONDS = 5.0


class BodyLimit:
    """Refuse bodies over `limit` bytes with 413, whether announced or streamed."""

    def __init__(self, app: Any, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: MutableMapping[str, Any], receive: Callable[[], Awaitable[Any]],
                       send: Callable[[Any], Awaitable[None]]) -> None:
        if scope["type"] != "http" or scope["method"] in ("GET", "HEAD", "OPTIONS"):
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.limit:
            if int(declared) <= DRAIN_LIMIT:
                await _discard_rest(receive)
            await self._refuse(send, int(declared))
            return
        chunks, size = [], 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.limit:
                if message.get("more_body"):
                    await _discard_rest(receive)
                await self._refuse(send, size)
                return
            chunks.append(chunk)
            if not message.get("more_body"):
                break
        body = b"".join(chunks)
        sent = False

        async def replay() -> Any:
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    async def _refuse(self, send: Callable[[Any], Awaitable[None]], size: int) -> None:
        payload = json.dumps({"error": f"request body is {size:,}+ bytes, over the limit of "
                                       f"{self.limit:,} bytes; split the batch",
                              "details": []}).encode()
        await send({"type": "http.response.start", "status": 413,
                    "headers": [(b"content-type", b"application/json"),
                                (b"content-length", str(len(payload)).encode()),
                                (b"connection", b"close")]})
        await send({"type": "http.response.body", "body": payload})


async def _discard_rest(receive: Callable[[], Awaitable[Any]]) -> None:
    drained = 0
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(DRAIN_SECONDS):
            while drained <= DRAIN_LIMIT:
                message = await receive()
                if message["type"] != "http.request":
                    return
                drained += len(message.get("body", b""))
                if not message.get("more_body"):
                    return


#: Every answer says: nothing from another host.  The docs page (Swagger UI from packaged
#: assets) needs its own scripts and styles, inline ones included, and data: images.
SECURITY_HEADERS = (
    (b"content-security-policy",
     b"default-src 'none'; script-src 'self' 'unsafe-inline'; style-src 'self' "
     b"'unsafe-inline'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; "
     b"form-action 'none'; frame-ancestors 'none'"),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
)


class SecurityHeaders:
    """Add `SECURITY_HEADERS` to every HTTP response."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: MutableMapping[str, Any], receive: Callable[[], Awaitable[Any]],
                       send: Callable[[Any], Awaitable[None]]) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def with_headers(message: Any) -> None:
            if message["type"] == "http.response.start":
                have = {name.lower() for name, _ in message.get("headers") or ()}
                message["headers"] = [*(message.get("headers") or ()),
                                      *(h for h in SECURITY_HEADERS if h[0] not in have)]
            await send(message)

        await self.app(scope, receive, with_headers)
