"""The guard in front of every route: API key, body size, metrics, no stack traces out, and
abandoned requests cancelled.

Written as plain ASGI (not ``BaseHTTPMiddleware``) so a too-large body is refused before it
is read into memory, and so nothing the routes raise can reach a client as a traceback. Once
the body is read, the guard listens for the client going away: then the route's task is
cancelled, which cancels its queued texts or tells its search to stop (status 499 in the
metrics), instead of encoding for nobody.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import json
import logging
import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from finesim.serve.service import Service

log = logging.getLogger(__name__)

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

OPEN_PATHS = ("/healthz",)  # answered without an API key
ROUTES = (
    "/v1/embeddings",
    "/v1/similarity",
    "/v1/search",
    "/v1/rerank",
    "/v2/rerank",
    "/v1/indexes",
    "/v1/models",
    "/healthz",
    "/metrics",
    "/",
)


def error_body(status: int, message: str, kind: str, param: str | None = None) -> bytes:
    """OpenAI's error shape: ``{"error": {"message", "type", "param", "code"}}``."""
    error = {"message": message, "type": kind, "param": param, "code": status}
    return json.dumps({"error": error}).encode()


async def send_error(
    send: Send,
    status: int,
    message: str,
    kind: str,
    headers: list[tuple[bytes, bytes]] | None = None,
) -> None:
    body = error_body(status, message, kind)
    head = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": head + (headers or [])})
    await send({"type": "http.response.body", "body": body})


def _header(scope: Scope, name: bytes) -> bytes | None:
    for key, value in scope.get("headers", []):
        if key.lower() == name:
            return bytes(value)
    return None


def authorized(scope: Scope, api_key: str | None) -> bool:
    """True without a key, or when ``Authorization: Bearer <key>`` matches (constant time)."""
    if api_key is None or scope.get("path") in OPEN_PATHS:
        return True
    given = _header(scope, b"authorization") or b""
    scheme, _, token = given.partition(b" ")
    return scheme.lower() == b"bearer" and hmac.compare_digest(token.strip(), api_key.encode())


async def read_body(receive: Receive, limit: int) -> bytes | None:
    """The whole request body, or None as soon as it grows past ``limit`` bytes."""
    chunks, size, more = [], 0, True
    while more:
        message = await receive()
        if message["type"] == "http.disconnect":
            return None
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
        more = message.get("more_body", False)
    return b"".join(chunks)


class Guard:
    """Wraps the FastAPI app: 401 without the key, 413 for big bodies, metrics, 500 as JSON."""

    def __init__(self, app: ASGIApp, service: Service) -> None:
        self.app, self.service = app, service

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope.get("path", "")
        route = path if path in ROUTES else ("/static" if path.startswith("/static/") else "other")
        metrics, started, status = self.service.metrics, time.perf_counter(), [0]

        async def tracked(message: Message) -> None:
            if message["type"] == "http.response.start":
                status[0] = int(message["status"])
            await send(message)

        try:
            if not await self._guarded(scope, receive, tracked):
                status[0] = status[0] or 499  # nginx's "client closed request"
                metrics.cancelled.inc()
        except Exception:
            log.exception("unhandled error on %s", path)
            if status[0] == 0:  # nothing sent yet
                await send_error(tracked, 500, "internal server error", "server_error")
        finally:
            metrics.requests.labels(route, str(status[0] or 500)).inc()
            metrics.latency.labels(route).observe(time.perf_counter() - started)

    async def _guarded(self, scope: Scope, receive: Receive, send: Send) -> bool:
        """Answer the request; False if the client went away first."""
        if not authorized(scope, self.service.api_key):
            await send_error(
                send,
                401,
                "missing or wrong API key: send 'Authorization: Bearer <key>'",
                "authentication_error",
                [(b"www-authenticate", b"Bearer")],
            )
            return True
        limit = self.service.limits.max_body
        declared = _header(scope, b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            await send_error(send, 413, f"request body over {limit} bytes", "invalid_request_error")
            return True
        body = await read_body(receive, limit)
        if body is None:
            await send_error(send, 413, f"request body over {limit} bytes", "invalid_request_error")
            return True
        return await self._answer(scope, body, receive, send)

    async def _answer(self, scope: Scope, body: bytes, receive: Receive, send: Send) -> bool:
        """Run the app on ``body`` while listening for the client going away; then cancel it."""
        gone = asyncio.Event()
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            await gone.wait()  # the app asks again only to hear of a disconnect
            return {"type": "http.disconnect"}

        async def listen() -> None:
            while (await receive())["type"] != "http.disconnect":
                pass
            gone.set()

        answered = False  # the whole response is sent (servers then report a "disconnect")

        async def sending(message: Message) -> None:
            nonlocal answered
            await send(message)
            if message["type"] == "http.response.body" and not message.get("more_body"):
                answered = True

        task = asyncio.ensure_future(self.app(scope, replay, sending))
        listener = asyncio.ensure_future(listen())
        try:
            await asyncio.wait({task, listener}, return_when=asyncio.FIRST_COMPLETED)
            if not task.done() and not answered:
                task.cancel()  # the client went away: stop the work it asked for
                with contextlib.suppress(asyncio.CancelledError):
                    await task
                return False
            await task  # the app's own error, if any, goes to the caller
            return True
        finally:
            listener.cancel()
            if not task.done():  # this request itself was cancelled (shutdown)
                task.cancel()
