"""The JSON API as a Starlette app, mounted inside the Bento (``bentos/service.py``).

Each endpoint reads the body once, validates it with one ``model_validate_json``, calls
the engine and encodes its dict with orjson: no per-field pydantic round trips, no thread
hop while the engine runs in memory (a networked availability provider moves the call to
a thread so a slow TMDB never blocks the event loop). Adding an endpoint is one entry in
``ENDPOINTS`` (documented in ``/docs.json`` and guarded by ``RequestGuard`` from there).
Any other route is one line on the app ``bentos.service`` builds, e.g.
``api.add_route("/", page, methods=["GET"])`` or ``api.mount("/static", StaticFiles(...))``:
routes of the mounted app come before BentoML's own index page, and a body-taking route is
guarded without further edits.
"""

from __future__ import annotations

import ipaddress
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import orjson
from pydantic import BaseModel, ValidationError
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from bentos import schemas
from bentos.guard import RequestGuard
from recsys.serving.engine import RecommendationEngine, UnknownItem
from recsys.serving.inference_log import log_record, truncated_request
from recsys.serving.platforms import InvalidRequest

logger = logging.getLogger("movierec.serving")
API_VERSION = "1"


@dataclass(frozen=True)
class Endpoint:
    """One JSON endpoint: its request and response bodies and the engine call."""

    name: str
    request: type[BaseModel]
    response: type[BaseModel]
    summary: str
    call: Callable[[RecommendationEngine, Any], dict[str, Any]]


ENDPOINTS: dict[str, Endpoint] = {
    "/recommend": Endpoint(
        "recommend", schemas.RecommendRequest, schemas.Recommendations,
        "Top-k movies for a user; unknown users get the cold-start fallback.",
        lambda e, r: e.recommend(r.user_id, r.k, r.exclude_seen, r.platforms, r.region)),
    "/recommend_new_user": Endpoint(
        "recommend_new_user", schemas.NewUserRequest, schemas.NewUserRecommendations,
        "Top-k movies for a visitor without an account, from movies they like.",
        lambda e, r: e.recommend_new_user(r.liked_item_ids, r.k, r.platforms, r.region)),
    "/similar_items": Endpoint(
        "similar_items", schemas.SimilarItemsRequest, schemas.SimilarItems,
        "Movies similar to one movie.", lambda e, r: e.similar_items(r.item_id, r.k)),
    "/predict_rating": Endpoint(
        "predict_rating", schemas.PredictRatingRequest, schemas.RatingPrediction,
        "The predicted rating (or score) of one user for one movie.",
        lambda e, r: e.predict_rating(r.user_id, r.item_id)),
}


class EngineHolder:
    """The running service's engine (set when the service starts) and its reloader."""

    def __init__(self) -> None:
        self.engine: RecommendationEngine | None = None
        self.reload: Callable[[], dict[str, Any]] | None = None

    def log(self) -> Any:
        return None if self.engine is None else self.engine.log


def json_response(payload: Any, status: int = 200) -> Response:
    return Response(orjson.dumps(payload), status_code=status, media_type="application/json")


def validation_message(exc: ValidationError) -> str:
    parts = []
    for problem in exc.errors(include_url=False):
        where = ".".join(str(p) for p in problem.get("loc", ()))
        parts.append(f"{where}: {problem['msg']}" if where else str(problem["msg"]))
    return "; ".join(parts) or str(exc)


def _is_loopback(request: Request) -> bool:
    host = request.client.host if request.client else ""
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def build_app(holder: EngineHolder, max_body_bytes: int) -> Starlette:
    """The API app: the JSON endpoints, ``GET /model``, ``GET /docs.json`` and the
    loopback-only ``POST /admin/reload``, behind ``RequestGuard``."""

    def refuse(endpoint: str, start: float, status: int, message: str, detail: Any,
               body: bytes) -> Response:
        log = holder.log()
        if log is not None:
            request = truncated_request(body)
            user_id = request.get("user_id") if isinstance(request, dict) else None
            log.append(log_record(
                endpoint, user_id=user_id if type(user_id) is int else None, items=[],
                scores=[], latency_ms=(time.perf_counter() - start) * 1000,
                model_version=None, cold_start=None, status=status, request=request,
                error=message))
        return json_response({"error": message, "detail": detail}, status)

    def handler(endpoint: Endpoint) -> Callable[[Request], Any]:
        async def handle(request: Request) -> Response:
            start = time.perf_counter()
            body = await request.body()
            try:
                parsed = endpoint.request.model_validate_json(body)
            except ValidationError as exc:
                detail = exc.errors(include_context=False, include_input=False)
                return refuse(endpoint.name, start, 400, validation_message(exc), detail, body)
            engine = holder.engine
            if engine is None:
                return json_response({"error": "the model is still loading", "detail": None}, 503)
            try:
                if engine.networked:
                    result = await run_in_threadpool(endpoint.call, engine, parsed)
                else:
                    result = endpoint.call(engine, parsed)
            except InvalidRequest as exc:
                return refuse(endpoint.name, start, 400, str(exc), None, body)
            except UnknownItem as exc:
                return refuse(endpoint.name, start, 404, str(exc), None, body)
            return json_response(result)

        return handle

    async def model(request: Request) -> Response:
        if holder.engine is None:
            return json_response({"error": "the model is still loading", "detail": None}, 503)
        return json_response(holder.engine.model_card())

    routes_doc = {path: (e.name, e.request, e.response, e.summary)
                  for path, e in ENDPOINTS.items()}

    async def docs(request: Request) -> Response:
        engine = holder.engine
        platforms = engine.known_platforms() if engine is not None else None
        return json_response(schemas.openapi_document(routes_doc, API_VERSION, platforms))

    async def reload(request: Request) -> Response:
        if not _is_loopback(request):
            return json_response({"error": "reload is only accepted from loopback",
                                  "detail": None}, 403)
        if holder.reload is None:
            return json_response({"error": "the service is still starting", "detail": None}, 503)
        return json_response(await run_in_threadpool(holder.reload))

    routes: list[BaseRoute] = [
        Route(path, handler(endpoint), methods=["POST"], name=endpoint.name)
        for path, endpoint in ENDPOINTS.items()
    ]
    routes += [
        Route("/model", model, methods=["GET"], name="model"),
        Route("/docs.json", docs, methods=["GET"], name="openapi"),
        Route("/admin/reload", reload, methods=["POST"], name="reload"),
    ]
    app = Starlette(routes=routes)
    # the guard reads the app's live route list: routes added later are guarded too
    app.add_middleware(RequestGuard, routes=app.router.routes, max_body_bytes=max_body_bytes,
                       log=holder.log)
    return app
