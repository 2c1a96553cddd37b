"""The movierec BentoML service: recommendations with titles, years, streaming availability
and explanations.

Start it with ``bentoml serve bentos.service:MovieRecommender`` (or ``movierec serve``).

Endpoints (JSON; ``GET /docs.json`` is their OpenAPI document):

* ``POST /recommend`` ``{user_id, k=10, exclude_seen=true, platforms?, region="US"}``
* ``POST /recommend_new_user`` ``{liked_item_ids, k=10, platforms?, region="US"}``
* ``POST /similar_items`` ``{item_id, k=10}``
* ``POST /predict_rating`` ``{user_id, item_id}``
* ``GET /healthz``, ``GET /readyz`` (ready once the model is loaded; shows a failed
  reload), ``GET /model`` (registered version, alias, variant, metrics, data hash).
* ``POST /admin/reload`` (loopback only): swap to the source's current model now.
* ``GET /``: the viewer page (``bentos/web``), with ``GET /items/search``, ``/items/popular``,
  ``/items/info`` and ``/viewer/options``.

The model comes from ``bentos.model_source``; the engine (``recsys.serving``) does the
work; ``bentos.api`` maps HTTP onto it. This module only wires them into BentoML: the API
app is mounted at ``/`` inside the Bento, one worker per core.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import bentoml
from threadpoolctl import threadpool_limits

from bentos.api import ENDPOINTS, EngineHolder, build_app
from bentos.model_source import bento_dataset, read_items, resolve_items_path, resolve_model
from bentos.probes import ReadinessProbe
from bentos.reload import Reloader, reload_interval
from bentos.web import page_routes
from recsys.availability.breaker import CircuitBreaker
from recsys.monitoring.incoming import recent_path
from recsys.serving.availability import load_availability
from recsys.serving.config import ServeConfig, load_serve_config
from recsys.serving.engine import RecommendationEngine
from recsys.serving.heap import settle
from recsys.serving.inference_log import InferenceLog
from recsys.serving.recent import RecentHistories

logger = logging.getLogger("movierec.serving")


def build_engine(config: ServeConfig, data: dict[str, object]) -> RecommendationEngine:
    """The engine the service starts with, from the environment and ``params.yaml``."""
    model = resolve_model(config)
    items = read_items(resolve_items_path(config, data, model))
    setting = os.environ.get("MOVIEREC_AVAILABILITY", config.availability)
    mirror = os.environ.get("MOVIEREC_DATA_MIRROR")
    if setting is None and mirror and (Path(mirror) / "streaming").is_dir():
        # the local data mirror carries the streaming catalogues: use them by default
        setting = str(Path(mirror) / "streaming")
    availability = load_availability(setting, items, config)
    log = InferenceLog(os.environ.get("MOVIEREC_INFERENCE_LOG") or config.inference_log,
                       max_bytes=int(config.inference_log_max_mb * 1024 * 1024),
                       backups=config.inference_log_backups)
    return RecommendationEngine(
        model, items, availability.provider, hint=availability.hint, log=log,
        default_region=config.region, networked=availability.networked,
        budget_seconds=config.availability_budget_ms / 1000,
        breaker=CircuitBreaker(config.breaker_failures, config.breaker_cooldown_seconds),
        recent=RecentHistories.read(recent_histories_path(config, data)),
    )


def recent_histories_path(config: ServeConfig, data: dict[str, object]) -> Path:
    """Where the monitor keeps the whole histories of the users who rated since the
    champion's training data: ``$MOVIEREC_RECENT_HISTORIES``, else
    ``serve.recent_histories``, else the dataset's default."""
    chosen = os.environ.get("MOVIEREC_RECENT_HISTORIES") or config.recent_histories
    return Path(chosen) if chosen else recent_path(str(data["dataset"]))


# a built Bento serves the dataset it was built for, whatever its params.yaml's data.dataset
CONFIG, DATA = load_serve_config(dataset=bento_dataset())
MAX_BODY_BYTES = int(os.environ.get("MOVIEREC_MAX_BODY_BYTES") or CONFIG.max_body_bytes)
holder = EngineHolder()
api = build_app(holder, MAX_BODY_BYTES)
# GET /: the viewer page and its catalogue endpoints, as routes of their own after the JSON
# API's (not a mount at "/", which would answer 404 instead of 405 to a wrong method)
api.router.routes.extend(page_routes(lambda: holder.engine))


#: BentoML's per-request metrics, access log and OpenTelemetry spans cost about 0.8 ms of
#: CPU per request, more than the engine: metrics and the access log are off, and the JSON
#: API's paths are left out of tracing (the inference log records every request instead).
UNTRACED = [f"{path}$" for path in ENDPOINTS]


@bentoml.service(name="movierec", workers=CONFIG.workers, traffic={"timeout": 30},
                 metrics={"enabled": False}, logging={"access": {"enabled": False}},
                 tracing={"excluded_urls": UNTRACED})
@bentoml.asgi_app(api, path="/")
class MovieRecommender:
    """Serves the champion recommender with titles, availability and explanations."""

    def __init__(self) -> None:
        # one worker per core: a BLAS thread pool per worker would only contend with the
        # other workers (a 62k x 64 factor product took 8 ms with two threads on a busy
        # 2-core machine, 0.3 ms with one)
        threadpool_limits(1)
        self.engine = build_engine(CONFIG, DATA)
        folder = os.environ.get("MOVIEREC_MODEL_DIR")
        self.reloader = Reloader(self.engine, CONFIG, Path(folder) if folder else None,
                                 recent=recent_histories_path(CONFIG, DATA))
        holder.engine, holder.reload = self.engine, self.reloader.check
        # everything loaded so far lives as long as the process: out of the collector's
        # full passes (a 100-300 ms stop each, the whole p99 before)
        frozen = settle()
        self.reloader.start(reload_interval(CONFIG))
        logger.info("serving %s (%s) from %s (%d objects frozen)", self.engine.model.variant,
                    self.engine.model.version, self.engine.model.source, frozen)

    def __is_ready__(self) -> bool:
        return holder.engine is not None

    @bentoml.on_shutdown
    def close(self) -> None:
        self.reloader.stop()
        if self.engine.log is not None:
            self.engine.log.close()


MovieRecommender.add_asgi_middleware(ReadinessProbe, holder=holder)  # type: ignore[attr-defined]
