"""``GET /readyz`` with a body: ready once the model is loaded, and the last failed
reload (the old model keeps serving) for an operator to see."""

from __future__ import annotations

from typing import Any

from bentos.api import EngineHolder
from bentos.guard import ASGIApp, Receive, Scope, Send, send_json


class ReadinessProbe:
    """ASGI middleware answering ``GET /readyz`` from the engine's state."""

    def __init__(self, app: ASGIApp, holder: EngineHolder) -> None:
        self.app = app
        self.holder = holder

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("path") != "/readyz":
            await self.app(scope, receive, send)
            return
        engine = self.holder.engine
        payload: dict[str, Any] = {"ready": engine is not None, "model_version": None,
                                   "reload_error": None}
        if engine is not None:
            payload["model_version"] = engine.model.version
            payload["reload_error"] = engine.reload_error
        await send_json(send, 200 if engine is not None else 503, payload)
