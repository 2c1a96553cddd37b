"""ASGI guard of the JSON API: body size (413) and content type (415), before any parsing.

The protected paths are read from the wrapped app's own routes (every route accepting
POST, PUT or PATCH), so an endpoint added to the app is guarded without a list to edit.
Refusals are answered ``{"error": ..., "detail": null}`` and logged (body truncated).
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import orjson
from starlette.routing import BaseRoute, Route

from recsys.serving.inference_log import InferenceLog, log_record, truncated_request

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})


def body_paths(routes: list[BaseRoute]) -> frozenset[str]:
    """Paths of the routes that take a request body."""
    return frozenset(r.path for r in routes
                     if isinstance(r, Route) and BODY_METHODS & set(r.methods or ()))


async def send_json(send: Send, status: int, payload: dict[str, Any]) -> None:
    body = orjson.dumps(payload)
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"),
                            (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


class RequestGuard:
    """Wraps ``app``; refuses oversized and non-JSON bodies on its body-taking routes.

    Args:
        app: the Starlette app whose routes are guarded.
        routes: its routes (read at every request, so routes added later count too).
        max_body_bytes: larger bodies get 413, also when streamed without a length.
        log: where refusals are logged (``None`` = not logged), as a callable so that the
            service can create its log after the guard.
    """

    def __init__(self, app: ASGIApp, routes: list[BaseRoute], max_body_bytes: int,
                 log: Callable[[], InferenceLog | None]) -> None:
        self.app = app
        self.routes = routes
        self.max_body_bytes = max_body_bytes
        self.log = log
        self._paths: tuple[int, frozenset[str]] = (-1, frozenset())

    def protected(self) -> frozenset[str]:
        if self._paths[0] != len(self.routes):
            self._paths = (len(self.routes), body_paths(self.routes))
        return self._paths[1]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("method") not in BODY_METHODS \
                or scope.get("path", "") not in self.protected():
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        endpoint = scope["path"].lstrip("/")
        content_type = b"application/json"
        declared = None
        for name, value in scope.get("headers") or ():
            if name == b"content-type":
                content_type = value
            elif name == b"content-length":
                declared = value
        content_type = content_type.split(b";")[0].strip().lower()
        if content_type not in (b"application/json", b""):
            message = (f"content type {content_type.decode(errors='replace')!r} not supported: "
                       "send application/json")
            await self._refuse(send, endpoint, start, 415, message)
            return
        if declared is not None and declared.isdigit() and int(declared) > self.max_body_bytes:
            message = f"request body of {int(declared)} bytes exceeds the limit of {self.max_body_bytes}"
            await self._refuse(send, endpoint, start, 413, message)
            return
        chunks: list[bytes] = []
        size = 0
        more = True
        while more:
            message_in = await receive()
            if message_in["type"] == "http.disconnect":
                return
            chunk = message_in.get("body", b"")
            size += len(chunk)
            if size > self.max_body_bytes:
                message = f"request body exceeds the limit of {self.max_body_bytes} bytes"
                await self._refuse(send, endpoint, start, 413, message, b"".join(chunks))
                return
            chunks.append(chunk)
            more = bool(message_in.get("more_body"))
        body = b"".join(chunks)
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    async def _refuse(self, send: Send, endpoint: str, start: float, status: int,
                      message: str, body: bytes = b"") -> None:
        await send_json(send, status, {"error": message, "detail": None})
        log = self.log()
        if log is not None:
            log.append(log_record(endpoint, user_id=None, items=[], scores=[],
                                  latency_ms=(time.perf_counter() - start) * 1000,
                                  model_version=None, cold_start=None, status=status,
                                  request=truncated_request(body), error=message))
