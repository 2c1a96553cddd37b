"""The request guard protects every body-taking route of the API app, including new ones."""

from __future__ import annotations

import pytest
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.testclient import TestClient

from bentos.api import ENDPOINTS, EngineHolder, build_app
from bentos.guard import body_paths

pytestmark = pytest.mark.unit


def test_protected_paths_come_from_the_routes() -> None:
    app = build_app(EngineHolder(), max_body_bytes=2048)
    assert body_paths(app.router.routes) >= set(ENDPOINTS)


def test_a_route_added_later_is_guarded() -> None:
    """A new endpoint needs no list edited to get the 413/415 checks."""
    app = build_app(EngineHolder(), max_body_bytes=2048)

    async def echo(request: Request) -> JSONResponse:
        return JSONResponse({"size": len(await request.body())})

    app.add_route("/feedback", echo, methods=["POST"])
    with TestClient(app) as client:
        assert client.post("/feedback", content=b"{\"x\": 1}").json() == {"size": 8}
        big = client.post("/feedback", content=b"[" + b"1," * 2000 + b"1]",
                          headers={"content-type": "application/json"})
        assert big.status_code == 413 and "exceeds the limit" in big.json()["error"]
        assert big.json()["detail"] is None
        form = client.post("/feedback", data={"a": "b"})
        assert form.status_code == 415 and "application/json" in form.json()["error"]

        def chunks():  # type: ignore[no-untyped-def]
            for _ in range(5):
                yield b" " * 1024

        streamed = client.post("/feedback", content=chunks(),
                               headers={"content-type": "application/json"})
        assert streamed.status_code == 413


def test_get_routes_and_unknown_paths_pass_through() -> None:
    app = build_app(EngineHolder(), max_body_bytes=2048)
    with TestClient(app) as client:
        assert client.get("/docs.json").status_code == 200
        assert client.get("/model").status_code == 503  # no engine yet, not a guard refusal
