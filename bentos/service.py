"""The movierec BentoML service: recommendations with titles, years and streaming availability.

Start it with ``bentoml serve bentos.service:MovieRecommender`` (or ``movierec serve``).

Endpoints (JSON):

* ``POST /recommend`` ``{user_id, k=10, exclude_seen=true, platforms?, region="US"}``
* ``POST /recommend_new_user`` ``{liked_item_ids, k=10, platforms?, region="US"}``
* ``POST /similar_items`` ``{item_id, k=10}``
* ``POST /predict_rating`` ``{user_id, item_id}``
* ``GET /healthz``, ``GET /readyz`` (BentoML's probes; ready once the model is loaded),
  ``GET /model`` (registered version, alias, variant, metrics, training data hash).

The model is resolved at start-up, first hit wins:

1. ``$MOVIEREC_MODEL_DIR``: a folder written by ``BaseRecommender.save``;
2. the MLflow registry ``models:/movie-recommender@champion`` through
   ``recsys.tracking.registry.load_champion`` (tried when ``$MLFLOW_TRACKING_URI`` is set or
   ``mlflow.db`` exists);
3. in a built Bento, the model ``bentos.build.build_bento`` captured into it (the tag its
   ``bento.yaml`` names; never, from a source checkout, whatever the store holds).

Every answered request, successful or not, is appended as one JSON line to the inference
log (``$MOVIEREC_INFERENCE_LOG``, default ``data/inference/log.jsonl``) that monitoring reads.

``RecommendationEngine`` holds the logic and knows nothing of BentoML; the service class
only maps HTTP to it.
"""

from __future__ import annotations

import json
import logging
import math
import os
import threading
import time
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import bentoml
import numpy as np
import pandas as pd
from bentoml.exceptions import BentoMLException, InvalidArgument, NotFound
from fastapi import FastAPI
from pydantic import BaseModel, ConfigDict, Field

from recsys.availability.provider import (
    DEFAULT_REGION,
    AvailabilityError,
    AvailabilityProvider,
    canonical_platform,
)
from recsys.data.schema import ID_MAX, ITEM_ID
from recsys.jsonable import json_default
from recsys.models.base import BaseRecommender
from recsys.serving.config import ServeConfig
from recsys.tracking.registry import MODEL_NAME

logger = logging.getLogger("movierec.serving")

MAX_K = 100
MAX_LIKED_ITEMS = 1_000
MAX_PLATFORMS = 20
API_PATHS = ("/recommend", "/recommend_new_user", "/similar_items", "/predict_rating")
NO_AVAILABILITY_HINT = (
    "no streaming availability configured: set MOVIEREC_AVAILABILITY to a catalogue CSV or "
    "folder (or 'tmdb' with TMDB_API_KEY), or serve.availability in params.yaml"
)


# -- configuration ----------------------------------------------------------------------
def load_serve_config(params_path: str | Path | None = None) -> tuple[ServeConfig, dict[str, Any]]:
    """``(serve config, data section)`` of the validated ``params.yaml``
    (``$MOVIEREC_PARAMS`` overrides the path)."""
    from recsys.params import load

    path = params_path or os.environ.get("MOVIEREC_PARAMS", "params.yaml")
    params = load(path)
    return params.serve, params.data.model_dump()


# -- the model ---------------------------------------------------------------------------
@dataclass(frozen=True)
class ModelInfo:
    """A loaded recommender and what the registry says about it."""

    recommender: BaseRecommender
    version: str
    source: str
    alias: str | None = None
    variant: str | None = None
    metrics: dict[str, float] = field(default_factory=dict)
    data_hash: str | None = None
    run_id: str | None = None
    folder: Path | None = None


def _read_json(path: Path) -> dict[str, Any]:
    try:
        loaded = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return loaded if isinstance(loaded, dict) else {}


def model_from_folder(folder: Path) -> ModelInfo:
    """A model saved by ``BaseRecommender.save`` (plus optional ``serving.json`` metadata)."""
    from recsys.models import load_model

    if not (folder / "model.json").is_file():
        raise FileNotFoundError(f"{folder}: no saved model (model.json) in this folder")
    recommender = load_model(folder)
    meta = _read_json(folder / "serving.json")
    return ModelInfo(
        recommender=recommender,
        version=str(meta.get("version") or f"local:{folder.name}"),
        source=str(meta.get("source") or f"folder:{folder}"),
        alias=meta.get("alias"),
        variant=meta.get("variant") or recommender.name,
        metrics={k: float(v) for k, v in (meta.get("metrics") or {}).items()},
        data_hash=meta.get("data_hash"),
        run_id=meta.get("run_id"),
        folder=folder,
    )


def model_from_registry(model_name: str, alias: str) -> ModelInfo | None:
    """The MLflow champion, or ``None`` when no registry is configured or it lacks one."""
    if not (os.environ.get("MLFLOW_TRACKING_URI") or Path("mlflow.db").is_file()):
        return None
    try:
        from recsys.tracking.registry import load_champion  # type: ignore[import-not-found]
    except ImportError:
        logger.warning("recsys.tracking.registry is not available: skipping the MLflow registry")
        return None
    try:
        champion = load_champion(model_name=model_name, alias=alias)
    except Exception as exc:  # noqa: BLE001 - any registry failure means "try the next source"
        logger.warning("no %s@%s in the MLflow registry (%s)", model_name, alias, exc)
        return None
    return ModelInfo(
        recommender=champion.recommender,
        version=str(champion.version),
        source=f"models:/{model_name}@{alias}",
        alias=champion.alias,
        variant=champion.variant,
        metrics={k: float(v) for k, v in (champion.metrics or {}).items()},
        data_hash=champion.data_hash,
        run_id=champion.run_id,
    )


def bento_model_tag(model_name: str, here: Path = Path(__file__)) -> str | None:
    """The tag of ``model_name`` in the built Bento this module runs from (its
    ``bento.yaml``); ``None`` from a source checkout, where the store's latest model may have
    been left by any other checkout or run on the machine."""
    import yaml

    for parent in here.resolve().parents[:3]:
        manifest = parent / "bento.yaml"
        if manifest.is_file():
            info = yaml.safe_load(manifest.read_text()) or {}
            tags = [str(m.get("tag", "")) for m in info.get("models") or []]
            return next((t for t in tags if t.split(":")[0] == model_name), None)
    return None


def model_from_bento_store(model_name: str, tag: str | None = None) -> ModelInfo | None:
    """The model ``bentos.build`` captured into the BentoML model store (``tag``, default
    the latest of ``model_name``)."""
    from bentoml.exceptions import NotFound as StoreNotFound

    try:
        stored = bentoml.models.get(tag or f"{model_name}:latest")
    except StoreNotFound:
        return None
    info = model_from_folder(Path(stored.path) / "recommender")
    meta: dict[str, Any] = dict(stored.info.metadata)
    return ModelInfo(
        recommender=info.recommender,
        version=str(meta.get("version") or stored.tag.version),
        source=f"bento:{stored.tag}",
        alias=meta.get("alias"),
        variant=meta.get("variant") or info.variant,
        metrics={k: float(v) for k, v in (meta.get("metrics") or {}).items()},
        data_hash=meta.get("data_hash"),
        run_id=meta.get("run_id"),
        folder=Path(stored.path),
    )


def resolve_model(config: ServeConfig) -> ModelInfo:
    """The model to serve: env folder, then MLflow champion, then the Bento's own model."""
    folder = os.environ.get("MOVIEREC_MODEL_DIR")
    if folder:
        return model_from_folder(Path(folder))
    info = model_from_registry(config.model_name, config.alias)
    if info is not None:
        return info
    # only a built Bento falls back to the model it captured (never the store's "latest")
    tag = bento_model_tag(config.model_name)
    info = model_from_bento_store(config.model_name, tag) if tag else None
    if info is not None:
        return info
    raise RuntimeError(
        f"no model to serve: set MOVIEREC_MODEL_DIR, register models:/{config.model_name}"
        f"@{config.alias} in MLflow (`make run`), or serve a built Bento "
        "(`python -m bentos.build`, then `movierec serve --bento movierec:latest`)"
    )


def resolve_items_path(config: ServeConfig, data: dict[str, Any], model: ModelInfo) -> Path | None:
    """Where the items table is: env, params, the Bento's copy, then the processed data."""
    candidates = [os.environ.get("MOVIEREC_ITEMS"), config.items]
    if model.folder is not None:
        candidates.append(str(model.folder / "items.parquet"))
    dataset = data.get("dataset", "ml-100k")
    candidates.append(str(Path(data.get("processed_dir", "data/processed")) / dataset / "items.parquet"))
    for candidate in candidates:
        if candidate and Path(candidate).is_file():
            return Path(candidate)
    return None


def load_availability(
    setting: str | None, items: pd.DataFrame | None, config: ServeConfig
) -> tuple[AvailabilityProvider | None, str | None]:
    """``(provider, hint)``: no setting or no items gives ``(None, why)``, never an error."""
    if not setting or setting.lower() in ("none", "off", "false"):
        return None, NO_AVAILABILITY_HINT
    if items is None:
        return None, "availability configured but no items table (titles) to match it against"
    try:
        if setting.lower() == "tmdb":
            from recsys.availability.tmdb import TMDBClient, TMDBProvider

            client = TMDBClient(cache_dir=config.tmdb_cache_dir,
                                max_age_days=config.tmdb_max_age_days)
            return TMDBProvider(client, items), None
        from recsys.availability.catalogue import CatalogueProvider

        provider = CatalogueProvider.from_path(setting, items, year_tolerance=config.year_tolerance)
    except (AvailabilityError, OSError) as exc:
        logger.warning("availability disabled: %s", exc)
        return None, f"availability data could not be loaded: {exc}"
    for report in provider.reports:
        logger.info("availability %s: %d of %d movies matched (%.1f%%)", report.catalogue,
                    report.matched, report.n_items, 100 * report.rate)
    return provider, None


# -- inference log -----------------------------------------------------------------------
class InferenceLog:
    """Append-only JSON lines, one per request; safe across threads of one process."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        self._file: Any = None

    def append(self, record: dict[str, Any]) -> None:
        try:
            line = json.dumps(record, default=json_default, allow_nan=False) + "\n"
        except (ValueError, TypeError):
            # A refused request may carry NaN or odd values: keep it, as text.
            raw = json.dumps(record.get("request"), default=repr)[:2000]
            line = json.dumps({**record, "request": raw}, default=repr, allow_nan=False) + "\n"
        with self._lock:
            if self._file is None:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                self._file = self.path.open("a", encoding="utf-8", buffering=1)
            self._file.write(line)

    def close(self) -> None:
        with self._lock:
            if self._file is not None:
                self._file.close()
                self._file = None


def log_record(endpoint: str, *, user_id: int | None, items: list[int], scores: list[float | None],
               latency_ms: float, model_version: str | None, cold_start: bool | None,
               status: int = 200, request: dict[str, Any] | None = None,
               error: str | None = None) -> dict[str, Any]:
    """One inference-log line (the fields monitoring reads, plus status and request)."""
    record: dict[str, Any] = {
        "ts": datetime.now(UTC).isoformat(timespec="milliseconds"),
        "endpoint": endpoint,
        "user_id": user_id,
        "items": items,
        "scores": scores,
        "latency_ms": round(latency_ms, 3),
        "model_version": model_version,
        "cold_start": cold_start,
        "status": status,
        "request": request,
    }
    if error is not None:
        record["error"] = error
    return record


# -- the engine (no BentoML) -------------------------------------------------------------
class InvalidRequest(ValueError):
    """Input that is well-formed JSON but makes no sense (answered with 400)."""


class UnknownItem(LookupError):
    """An item id the model does not know (answered with 404)."""


def _finite(value: float) -> float | None:
    return float(value) if math.isfinite(value) else None


class RecommendationEngine:
    """Recommendations enriched with titles and availability; writes the inference log.

    Args:
        model: the loaded model and its registry facts.
        items: items table (``item_id``, ``title``, ``year``) or ``None``.
        availability: a provider, or ``None`` (then ``availability`` is null with ``hint``).
        hint: why availability is missing, shown in responses.
        log: where request records go (``None`` = nowhere).
        default_region: region used when a request names none.
    """

    def __init__(
        self,
        model: ModelInfo,
        items: pd.DataFrame | None = None,
        availability: AvailabilityProvider | None = None,
        *,
        hint: str | None = None,
        log: InferenceLog | None = None,
        default_region: str = DEFAULT_REGION,
    ) -> None:
        self.model = model
        self.recommender = model.recommender
        self.availability = availability
        self.hint = hint if availability is None else None
        self.log = log
        self.default_region = default_region
        self.loaded_at = datetime.now(UTC).isoformat(timespec="seconds")
        self._meta: dict[int, tuple[str | None, int | None]] = {}
        if items is not None:
            years = pd.array(items["year"], dtype="Int64") if "year" in items else None  # type: ignore[call-overload]
            for pos, (item_id, title) in enumerate(zip(items[ITEM_ID], items["title"], strict=True)):
                year = None if years is None or pd.isna(years[pos]) else int(years[pos])
                self._meta[int(item_id)] = (None if pd.isna(title) else str(title), year)
        self._known_platforms = set(availability.platforms()) if availability is not None else set()
        regions = availability.regions() if availability is not None else None
        self._regions: frozenset[str] | None = None if regions is None else frozenset(regions)
        self._candidates: dict[tuple[frozenset[str], str], np.ndarray] = {}

    @classmethod
    def from_environment(cls) -> RecommendationEngine:
        """Build from env variables and ``params.yaml`` (what the service does at start-up)."""
        config, data = load_serve_config()
        model = resolve_model(config)
        items_path = resolve_items_path(config, data, model)
        items = pd.read_parquet(items_path) if items_path is not None else None
        if items is None:
            logger.warning("no items table found: titles and years will be null")
        setting = os.environ.get("MOVIEREC_AVAILABILITY", config.availability)
        mirror = os.environ.get("MOVIEREC_DATA_MIRROR")
        if setting is None and mirror and (Path(mirror) / "streaming").is_dir():
            # the local data mirror carries the streaming catalogues: use them by default
            setting = str(Path(mirror) / "streaming")
        provider, hint = load_availability(setting, items, config)
        log_path = os.environ.get("MOVIEREC_INFERENCE_LOG") or config.inference_log
        return cls(model, items, provider, hint=hint, log=InferenceLog(log_path),
                   default_region=config.region)

    # -- helpers -------------------------------------------------------------------------
    def _covers(self, region: str) -> bool:
        """Whether the provider has data for ``region`` (else its movies are unknown there,
        not unavailable)."""
        return self.availability is not None and (self._regions is None or region in self._regions)

    def _region_gap(self, region: str) -> str | None:
        """Why there is no availability for ``region`` when the provider has no data for it
        (``None`` when it has, or when there is no provider at all)."""
        if self.availability is None or self._covers(region):
            return None
        return (f"no streaming data for region {region}: the catalogues cover "
                f"{', '.join(sorted(self._regions or ())) or 'no region'}")

    def _offers(self, item_id: int, region: str) -> list[dict[str, Any]] | None:
        if self.availability is None or not self._covers(region):
            return None
        try:
            offers = self.availability.offers(item_id, region)
        except AvailabilityError as exc:
            logger.warning("availability of item %s failed: %s", item_id, exc)
            return None
        return None if offers is None else [o.as_dict() for o in offers]

    def _movies(self, frame: pd.DataFrame, region: str) -> list[dict[str, Any]]:
        movies = []
        for item_id, score, rank in zip(frame[ITEM_ID].tolist(), frame["score"].tolist(),
                                        frame["rank"].tolist(), strict=True):
            title, year = self._meta.get(int(item_id), (None, None))
            movies.append({"item_id": int(item_id), "title": title, "year": year,
                           "score": _finite(score), "rank": int(rank),
                           "availability": self._offers(int(item_id), region)})
        return movies

    def _platform_candidates(
        self, platforms: list[str] | None, region: str
    ) -> tuple[np.ndarray | None, str | None]:
        """Item ids streamable on ``platforms`` (``None`` = no filter) and a note."""
        if not platforms:
            return None, None
        if self.availability is None:
            return None, "platform filter not applied: " + NO_AVAILABILITY_HINT
        gap = self._region_gap(region)
        if gap is not None:
            return None, "platform filter not applied: " + gap
        wanted = sorted({canonical_platform(p) for p in platforms})
        if self.availability.name == "catalogue":
            unknown = [p for p in wanted if p not in self._known_platforms]
            if unknown:
                raise InvalidRequest(
                    f"unknown platform(s): {', '.join(unknown)}; "
                    f"known: {', '.join(sorted(self._known_platforms))}"
                )
        key = (frozenset(wanted), region)
        if key not in self._candidates:
            ids = np.fromiter(sorted(self.availability.items_on(wanted, region)), dtype=np.int64)
            self._candidates[key] = ids
        ids = self._candidates[key]
        if ids.size == 0:
            return ids, f"no movie is available on {', '.join(wanted)} in {region}"
        return ids, None

    def _region(self, region: str | None) -> str:
        return (region or self.default_region).upper()

    def _write(self, record: dict[str, Any]) -> None:
        if self.log is not None:
            try:
                self.log.append(record)
            except OSError as exc:  # a full disk must not take recommendations down
                logger.error("inference log write failed: %s", exc)

    def _answer(self, endpoint: str, start: float, request: dict[str, Any], *,
                user_id: int | None, movies: list[dict[str, Any]], cold_start: bool | None,
                extra: dict[str, Any]) -> dict[str, Any]:
        latency_ms = (time.perf_counter() - start) * 1000
        self._write(log_record(
            endpoint, user_id=user_id, items=[m["item_id"] for m in movies],
            scores=[m["score"] for m in movies], latency_ms=latency_ms,
            model_version=self.model.version, cold_start=cold_start, request=request,
        ))
        return {**extra, "items": movies, "cold_start": cold_start,
                "model_version": self.model.version,
                "availability_hint": self.hint if self.availability is None else None,
                "attribution": getattr(self.availability, "attribution", None)}

    # -- endpoints -----------------------------------------------------------------------
    def recommend(self, user_id: int, k: int = 10, exclude_seen: bool = True,
                  platforms: list[str] | None = None, region: str | None = None) -> dict[str, Any]:
        """Top-``k`` for ``user_id``; an unknown user gets the fallback with ``cold_start``."""
        start = time.perf_counter()
        region = self._region(region)
        candidates, note = self._platform_candidates(platforms, region)
        if not platforms:
            note = self._region_gap(region)
        if candidates is not None and candidates.size == 0:
            frame = pd.DataFrame({ITEM_ID: [], "score": [], "rank": []})
            cold = user_id not in self.recommender.users_
        else:
            recs = self.recommender.recommend(user_id, k, exclude_seen=exclude_seen,
                                              candidates=candidates)
            frame, cold = recs.frame, user_id in recs.cold_start
        request = {"user_id": user_id, "k": k, "exclude_seen": exclude_seen,
                   "platforms": platforms, "region": region}
        extra: dict[str, Any] = {"user_id": user_id, "k": k, "region": region,
                                 "platforms": platforms}
        if candidates is not None and 0 < len(frame) < k:
            note = "; ".join(filter(None, [note, f"only {len(frame)} movie(s) available there"]))
        if cold:
            note = "; ".join(filter(None, ["unknown user: popularity fallback", note]))
        extra["note"] = note
        return self._answer("recommend", start, request, user_id=user_id,
                            movies=self._movies(frame, region), cold_start=cold, extra=extra)

    def recommend_new_user(self, liked_item_ids: list[int], k: int = 10,
                           platforms: list[str] | None = None,
                           region: str | None = None) -> dict[str, Any]:
        """Top-``k`` for a visitor known only by liked movies (cold start)."""
        start = time.perf_counter()
        region = self._region(region)
        known_items = self.recommender.items_
        unknown = [i for i in liked_item_ids if i not in known_items]
        candidates, note = self._platform_candidates(platforms, region)
        if not platforms:
            note = self._region_gap(region)
        if candidates is not None and candidates.size == 0:
            frame, folded_in = pd.DataFrame({ITEM_ID: [], "score": [], "rank": []}), False
        else:
            recs = self.recommender.recommend_for_history(
                np.asarray(liked_item_ids, dtype=np.int64), k=k, candidates=candidates
            )
            frame, folded_in = recs.frame, not recs.cold_start
        if not folded_in:
            note = "; ".join(filter(None, ["no usable history: popularity fallback", note]))
        request = {"liked_item_ids": liked_item_ids, "k": k, "platforms": platforms,
                   "region": region}
        extra = {"k": k, "region": region, "platforms": platforms,
                 "unknown_item_ids": unknown, "note": note, "fallback": not folded_in}
        return self._answer("recommend_new_user", start, request, user_id=None,
                            movies=self._movies(frame, region), cold_start=True, extra=extra)

    def similar_items(self, item_id: int, k: int = 10) -> dict[str, Any]:
        """The ``k`` movies most similar to ``item_id``."""
        start = time.perf_counter()
        if item_id not in self.recommender.items_:
            raise UnknownItem(f"unknown item_id {item_id}: the model has no such movie")
        frame = self.recommender.similar_items(item_id, k)
        title, year = self._meta.get(item_id, (None, None))
        return self._answer(
            "similar_items", start, {"item_id": item_id, "k": k}, user_id=None,
            movies=self._movies(frame, self.default_region), cold_start=None,
            extra={"item_id": item_id, "title": title, "year": year, "k": k,
                   "region": self.default_region},
        )

    def predict_rating(self, user_id: int, item_id: int) -> dict[str, Any]:
        """The model's rating (or, for ranking-only models, score) of one pair."""
        start = time.perf_counter()
        if item_id not in self.recommender.items_:
            raise UnknownItem(f"unknown item_id {item_id}: the model has no such movie")
        cold = user_id not in self.recommender.users_
        value = float(self.recommender.predict([user_id], [item_id])[0])
        if not math.isfinite(value):
            value = float(self.recommender.score(user_id, [item_id])[0])
        is_rating = bool(self.recommender.predicts_ratings)
        prediction = _finite(value)
        latency_ms = (time.perf_counter() - start) * 1000
        self._write(log_record(
            "predict_rating", user_id=user_id, items=[item_id], scores=[prediction],
            latency_ms=latency_ms, model_version=self.model.version, cold_start=cold,
            request={"user_id": user_id, "item_id": item_id},
        ))
        title, year = self._meta.get(item_id, (None, None))
        return {"user_id": user_id, "item_id": item_id, "title": title, "year": year,
                "rating": prediction if is_rating else None,
                "score": prediction, "is_rating": is_rating, "cold_start": cold,
                "model_version": self.model.version}

    def model_card(self) -> dict[str, Any]:
        """What is being served: registry facts, data hash, availability coverage."""
        card: dict[str, Any] = {
            "model_name": MODEL_NAME,
            "version": self.model.version,
            "alias": self.model.alias,
            "variant": self.model.variant,
            "metrics": self.model.metrics,
            "data_hash": self.model.data_hash,
            "run_id": self.model.run_id,
            "source": self.model.source,
            "loaded_at": self.loaded_at,
            "n_users": len(self.recommender.users_),
            "n_items": len(self.recommender.items_),
            "predicts_ratings": bool(self.recommender.predicts_ratings),
        }
        if self.availability is None:
            card["availability"] = None
            card["availability_hint"] = self.hint
        else:
            reports = getattr(self.availability, "reports", [])
            card["availability"] = {
                "provider": self.availability.name,
                "platforms": self.availability.platforms(),
                "attribution": self.availability.attribution,
                "match_rates": {r.catalogue: round(r.rate, 4) for r in reports},
            }
        return card


# -- HTTP guard: body size, content type, uniform errors, logging of refusals --------------
Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]


def _error_message(body: bytes) -> tuple[str, Any]:
    """A readable message from BentoML's error bodies (pydantic details or ``[{"error"}]``)."""
    try:
        payload = json.loads(body or b"null")
    except ValueError:
        return body.decode("utf-8", "replace")[:500] or "error", None
    if isinstance(payload, list) and len(payload) == 1 and isinstance(payload[0], dict):
        payload = payload[0]
    if not isinstance(payload, dict):
        return str(payload)[:500], None
    detail = payload.get("detail")
    if isinstance(detail, list) and detail:
        parts = []
        for problem in detail:
            if not isinstance(problem, dict):
                continue
            where = ".".join(str(p) for p in problem.get("loc", ()))
            parts.append(f"{where}: {problem.get('msg')}" if where else str(problem.get("msg")))
        return "; ".join(parts) or str(payload.get("error")), detail
    return str(payload.get("error") or payload), None


class RequestGuard:
    """ASGI middleware for the JSON API routes.

    * refuses bodies over ``max_body_bytes`` (413) and non-JSON content types (415);
    * rewrites every 4xx/5xx into ``{"error": "<what is wrong>", "detail": ...}``;
    * logs refused requests to the inference log (successes are logged by the engine),
      through the engine's own ``InferenceLog``: one handle and one lock per file, closed
      when the service shuts down.
    """

    def __init__(self, app: Callable[..., Awaitable[None]], max_body_bytes: int | None = None) -> None:
        self.app = app
        if max_body_bytes is None:
            env = os.environ.get("MOVIEREC_MAX_BODY_BYTES")
            max_body_bytes = int(env) if env else load_serve_config()[0].max_body_bytes
        self.max_body_bytes = max_body_bytes

    async def _reply(self, send: Send, status: int, message: str, detail: Any = None) -> bytes:
        body = json.dumps({"error": message, "detail": detail}).encode()
        await send({"type": "http.response.start", "status": status,
                    "headers": [(b"content-type", b"application/json"),
                                (b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body})
        return body

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if scope["type"] != "http" or scope.get("method") != "POST" or path not in API_PATHS:
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        endpoint = path.lstrip("/")
        headers = dict(scope.get("headers") or [])
        content_type = headers.get(b"content-type", b"application/json").split(b";")[0].strip()
        declared = headers.get(b"content-length")
        if content_type.lower() not in (b"application/json", b""):
            message = f"content type {content_type.decode(errors='replace')!r} not supported: send application/json"
            await self._reply(send, 415, message)
            self._log(endpoint, start, 415, message, b"")
            return
        if declared is not None and declared.isdigit() and int(declared) > self.max_body_bytes:
            message = f"request body of {int(declared)} bytes exceeds the limit of {self.max_body_bytes}"
            await self._reply(send, 413, message)
            self._log(endpoint, start, 413, message, b"")
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
                await self._reply(send, 413, message)
                self._log(endpoint, start, 413, message, b"")
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

        state: dict[str, Any] = {"status": 200, "start": None, "buffer": []}

        async def guarded_send(message_out: Message) -> None:
            if message_out["type"] == "http.response.start":
                state["status"] = int(message_out["status"])
                if state["status"] < 400:
                    await send(message_out)
                else:
                    state["start"] = message_out
                return
            if state["status"] < 400:
                await send(message_out)
                return
            if message_out["type"] != "http.response.body":
                return
            state["buffer"].append(message_out.get("body", b""))
            if message_out.get("more_body"):
                return
            text, detail = _error_message(b"".join(state["buffer"]))
            await self._reply(send, state["status"], text, detail)
            self._log(endpoint, start, state["status"], text, body)

        await self.app(scope, replay, guarded_send)

    @staticmethod
    def _log(endpoint: str, start: float, status: int, error: str, body: bytes) -> None:
        try:
            request = json.loads(body) if body else None
        except ValueError:
            request = None
        if not isinstance(request, dict):
            request = None
        user_id = request.get("user_id") if request else None
        log = _service_log()
        if log is None:
            return
        try:
            log.append(log_record(
                endpoint, user_id=user_id if isinstance(user_id, int) else None, items=[],
                scores=[], latency_ms=(time.perf_counter() - start) * 1000,
                model_version=None, cold_start=None, status=status, request=request,
                error=error,
            ))
        except (OSError, ValueError, TypeError) as exc:
            logger.error("inference log write failed: %s", exc)


def _service_log() -> InferenceLog | None:
    """The running service's inference log (``None`` before the service is up)."""
    try:
        service = bentoml.get_current_service()
    except BentoMLException:
        logger.warning("refused request not logged: the service is not started yet")
        return None
    engine = getattr(service, "engine", None)
    return getattr(engine, "log", None)


# -- request and response schemas --------------------------------------------------------
#: Ids are non-negative and JSON-safe integers (larger ones would overflow int64 look-ups).
UserId = Annotated[int, Field(strict=True, ge=0, le=ID_MAX, description="MovieLens user id")]
ItemId = Annotated[int, Field(strict=True, ge=0, le=ID_MAX, description="MovieLens movie id")]
TopK = Annotated[int, Field(strict=True, ge=1, le=MAX_K, description=f"1..{MAX_K}")]
StrictFlag = Annotated[bool, Field(strict=True)]
Platforms = Annotated[
    list[Annotated[str, Field(min_length=1, max_length=64)]] | None,
    Field(min_length=1, max_length=MAX_PLATFORMS,
          description="only movies streamable on these platforms, e.g. ['netflix', 'hulu']"),
]
Region = Annotated[str, Field(pattern=r"^[A-Za-z]{2}$", description="ISO-3166-1 alpha-2 code")]
LikedItems = Annotated[list[ItemId],
                       Field(max_length=MAX_LIKED_ITEMS, description="movies the visitor likes")]


class _Request(BaseModel):
    """A request body: an unknown field is a 400 naming it, never silently ignored (a typo
    such as ``platform`` for ``platforms`` would otherwise switch the filter off)."""

    model_config = ConfigDict(extra="forbid")


class RecommendRequest(_Request):
    user_id: UserId
    k: TopK = 10
    exclude_seen: StrictFlag = True
    platforms: Platforms = None
    region: Region = DEFAULT_REGION


class NewUserRequest(_Request):
    liked_item_ids: LikedItems
    k: TopK = 10
    platforms: Platforms = None
    region: Region = DEFAULT_REGION


class SimilarItemsRequest(_Request):
    item_id: ItemId
    k: TopK = 10


class PredictRatingRequest(_Request):
    user_id: UserId
    item_id: ItemId


class Offer(BaseModel):
    platform: str
    region: str
    offer_type: str
    source: str | None = None
    link: str | None = None


class Movie(BaseModel):
    item_id: int
    title: str | None
    year: int | None
    score: float | None
    rank: int
    availability: list[Offer] | None


class Recommendations(BaseModel):
    user_id: int | None = None
    k: int
    region: str
    platforms: list[str] | None = None
    items: list[Movie]
    cold_start: bool
    note: str | None = None
    model_version: str
    availability_hint: str | None = None
    attribution: str | None = None


class NewUserRecommendations(Recommendations):
    unknown_item_ids: list[int]
    fallback: bool


class SimilarItems(BaseModel):
    item_id: int
    title: str | None
    year: int | None
    k: int
    region: str
    items: list[Movie]
    cold_start: bool | None = None
    model_version: str
    availability_hint: str | None = None
    attribution: str | None = None


class RatingPrediction(BaseModel):
    user_id: int
    item_id: int
    title: str | None
    year: int | None
    rating: float | None
    score: float | None
    is_rating: bool
    cold_start: bool
    model_version: str


# -- the BentoML service -----------------------------------------------------------------
model_app = FastAPI(title="movierec model info", docs_url=None, redoc_url=None, openapi_url=None)


@bentoml.service(name="movierec", traffic={"timeout": 30})
@bentoml.asgi_app(model_app, path="/")
class MovieRecommender:
    """Serves the champion recommender with titles, years and streaming availability."""

    def __init__(self) -> None:
        self.engine = RecommendationEngine.from_environment()
        logger.info("serving %s (%s) from %s", self.engine.model.variant,
                    self.engine.model.version, self.engine.model.source)

    def __is_ready__(self) -> bool:
        return self.engine is not None

    @bentoml.on_shutdown
    def close_log(self) -> None:
        if self.engine.log is not None:
            self.engine.log.close()

    @bentoml.api(input_spec=RecommendRequest)
    def recommend(self, user_id: UserId, k: TopK = 10, exclude_seen: StrictFlag = True,
                  platforms: Platforms = None, region: Region = DEFAULT_REGION) -> Recommendations:
        """Top-k movies for a user; unknown users get the cold-start fallback."""
        try:
            return Recommendations(**self.engine.recommend(user_id, k, exclude_seen, platforms, region))
        except InvalidRequest as exc:
            raise InvalidArgument(str(exc)) from exc

    @bentoml.api(input_spec=NewUserRequest)
    def recommend_new_user(self, liked_item_ids: LikedItems, k: TopK = 10,
                           platforms: Platforms = None,
                           region: Region = DEFAULT_REGION) -> NewUserRecommendations:
        """Top-k movies for a visitor without an account, from movies they like."""
        try:
            return NewUserRecommendations(
                **self.engine.recommend_new_user(liked_item_ids, k, platforms, region)
            )
        except InvalidRequest as exc:
            raise InvalidArgument(str(exc)) from exc

    @bentoml.api(input_spec=SimilarItemsRequest)
    def similar_items(self, item_id: ItemId, k: TopK = 10) -> SimilarItems:
        """Movies similar to one movie."""
        try:
            return SimilarItems(**self.engine.similar_items(item_id, k))
        except UnknownItem as exc:
            raise NotFound(str(exc)) from exc

    @bentoml.api(input_spec=PredictRatingRequest)
    def predict_rating(self, user_id: UserId, item_id: ItemId) -> RatingPrediction:
        """The predicted rating (or score) of one user for one movie."""
        try:
            return RatingPrediction(**self.engine.predict_rating(user_id, item_id))
        except UnknownItem as exc:
            raise NotFound(str(exc)) from exc

    @model_app.get("/model")
    def model(self) -> dict[str, Any]:
        """Registered version, alias, variant, metrics and training data hash."""
        return self.engine.model_card()


# The limit is read when the server builds its app (env MOVIEREC_MAX_BODY_BYTES or params).
MovieRecommender.add_asgi_middleware(RequestGuard)  # type: ignore[attr-defined]
