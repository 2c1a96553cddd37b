"""The machine's floor for the serving benchmark: a bare Starlette app under uvicorn making
the same engine call as the service (``engine.recommend(user_id, k)``, orjson out), with no
BentoML, no guard and no validation beyond reading two fields.

    .venv/bin/python benchmarks/bare_asgi.py --port 8000 [--workers 2]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import orjson
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from bentos.service import build_engine
from recsys.serving.config import load_serve_config
from recsys.serving.heap import settle

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def create_app() -> Starlette:
    """The app (uvicorn's factory): builds the engine as the service does."""

    engine = build_engine(*load_serve_config())
    settle()  # the same heap as the service

    async def recommend(request: Request) -> Response:
        body = orjson.loads(await request.body())
        result = engine.recommend(int(body["user_id"]), int(body.get("k", 10)))
        return Response(orjson.dumps(result), media_type="application/json")

    async def ready(request: Request) -> Response:
        return Response(b"\n")

    return Starlette(routes=[Route("/recommend", recommend, methods=["POST"]),
                             Route("/readyz", ready)])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    uvicorn.run("benchmarks.bare_asgi:create_app", factory=True, host=args.host,
                port=args.port, workers=args.workers, log_level="warning", access_log=False,
                # loading the engine can keep a worker from answering the supervisor's 5 s
                # health check on a busy machine, which would kill and restart it forever
                timeout_worker_healthcheck=120)


if __name__ == "__main__":
    main()
