"""The recommendation engine: a model, titles, streaming availability and explanations.

It knows nothing of HTTP. Each endpoint returns the response body as a plain dict (the
shapes ``bentos/schemas.py`` documents) and queues one inference-log record saying what
the client got. The model and everything derived from it (ranked lists, explainer) live
in one immutable ``Served`` value that ``swap`` replaces in a single assignment, so a
request sees one model from start to end while a new champion is loaded beside it.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from recsys.availability.breaker import CircuitBreaker
from recsys.availability.provider import DEFAULT_REGION, AvailabilityProvider
from recsys.data.schema import ITEM_ID
from recsys.serving.config import MODEL_NAME
from recsys.serving.explain import Explainer
from recsys.serving.inference_log import InferenceLog, log_record
from recsys.serving.lookup import AvailabilityLookup
from recsys.serving.model import ModelInfo, check_catalogue
from recsys.serving.platforms import PlatformFilter
from recsys.serving.ranking import RankedLists
from recsys.serving.recent import RecentHistories, rank_recent

logger = logging.getLogger("movierec.serving")

#: Per-request time for availability look-ups of networked providers (TMDB).
DEFAULT_BUDGET_SECONDS = 0.3


class UnknownItem(LookupError):
    """An item id the model does not know (answered with 404)."""


def _finite(value: float) -> float | None:
    return float(value) if math.isfinite(value) else None


def _join(*notes: str | None) -> str | None:
    return "; ".join(n for n in notes if n) or None


@dataclass(frozen=True)
class Served:
    """One loaded model and what is derived from it once per load."""

    info: ModelInfo
    lists: RankedLists
    explainer: Explainer
    loaded_at: str

    @classmethod
    def prepare(cls, info: ModelInfo, items: pd.DataFrame | None) -> Served:
        """Check the model against the served items, rank its users, build its explainer.

        Raises:
            CatalogueMismatch: the model was trained on other movies than ``items``.
        """
        if items is not None:
            check_catalogue(info, items)
        return cls(info, RankedLists(info.recommender), Explainer(info.recommender),
                   datetime.now(UTC).isoformat(timespec="seconds"))


class RecommendationEngine:
    """Recommendations enriched with titles, availability and explanations.

    Args:
        model: the loaded model and its registry facts.
        items: items table (``item_id``, ``title``, ``year``) or ``None``.
        availability: a provider, or ``None`` (then ``availability`` is null with ``hint``).
        hint: why availability is missing, shown in responses.
        log: where request records go (``None`` = nowhere).
        default_region: region used when a request names none.
        networked: the provider calls out (TMDB): look-ups get ``budget_seconds`` per
            request and a circuit breaker, and the engine must not run on an event loop.
        budget_seconds: availability time per request of a networked provider.
        breaker: circuit breaker of a networked provider.
        recent: whole histories of the users who rated since the model's training data.

    Raises:
        CatalogueMismatch: the model does not match ``items``.
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
        networked: bool = False,
        budget_seconds: float = DEFAULT_BUDGET_SECONDS,
        breaker: CircuitBreaker | None = None,
        recent: RecentHistories | None = None,
    ) -> None:
        self.items = items
        #: users who rated since the model's training data, served from their whole history
        #: (``recsys.serving.recent``); replaced whole by ``set_recent``
        self.recent = recent or RecentHistories()
        self.availability = availability
        self.hint = hint if availability is None else None
        self.log = log
        self.default_region = default_region
        self.networked = networked
        self.budget_seconds = budget_seconds
        self.breaker = breaker or CircuitBreaker()
        self.reload_error: str | None = None
        self._titles: dict[int, str | None] = {}
        self._years: dict[int, int | None] = {}
        if items is not None:
            years = pd.array(items["year"], dtype="Int64") if "year" in items else None  # type: ignore[call-overload]
            for pos, (item_id, title) in enumerate(zip(items[ITEM_ID], items["title"], strict=True)):
                year = None if years is None or pd.isna(years[pos]) else int(years[pos])
                self._titles[int(item_id)] = None if pd.isna(title) else str(title)
                self._years[int(item_id)] = year
        self.platforms = PlatformFilter(availability, default_region)
        self._served = Served.prepare(model, items)

    # -- the model, swapped atomically ---------------------------------------------------
    @property
    def served(self) -> Served:
        return self._served

    @property
    def model(self) -> ModelInfo:
        return self._served.info

    @property
    def recommender(self) -> Any:
        return self._served.info.recommender

    def prepare(self, model: ModelInfo) -> Served:
        """Everything a request needs of ``model``, built beside the one being served."""
        return Served.prepare(model, self.items)

    def set_recent(self, recent: RecentHistories) -> None:
        """Serve these histories from the next request on (one reference assignment)."""
        self.recent = recent

    def swap(self, served: Served) -> None:
        """Serve ``served`` from the next request on (one reference assignment)."""
        self._served = served
        self.reload_error = None

    def known_platforms(self) -> list[str] | None:
        """The platform names a filter accepts, when they are all known (a catalogue)."""
        return self.platforms.known_platforms()

    # -- helpers -------------------------------------------------------------------------
    def _mask(self, served: Served, ids: NDArray[np.int64]) -> NDArray[np.bool_]:
        rec = served.info.recommender
        index = rec.items_.index(ids)
        mask = np.zeros(rec.n_items, dtype=bool)
        mask[index[index >= 0]] = True
        return mask

    def _movies(self, served: Served, index: NDArray[np.int64], scores: NDArray[np.float64],
                region: str, because: list[list[int]] | None, lookup: AvailabilityLookup
                ) -> list[dict[str, Any]]:
        ids = served.info.recommender.items_.ids
        titles, years = self._titles, self._years
        movies = []
        for rank, (pos, score) in enumerate(zip(index.tolist(), scores.tolist(), strict=True), 1):
            item_id = int(ids[pos])
            movie: dict[str, Any] = {
                "item_id": item_id, "title": titles.get(item_id), "year": years.get(item_id),
                "score": _finite(score), "rank": rank, "availability": lookup.offers(item_id),
            }
            if because is not None:
                movie["because"] = [{"item_id": int(ids[j]), "title": titles.get(int(ids[j]))}
                                    for j in because[rank - 1]]
            movies.append(movie)
        return movies

    def _write(self, record: dict[str, Any]) -> None:
        if self.log is not None:
            self.log.append(record)

    def _answer(self, endpoint: str, start: float, request: dict[str, Any], served: Served, *,
                user_id: int | None, movies: list[dict[str, Any]], cold_start: bool | None,
                body: dict[str, Any]) -> dict[str, Any]:
        body.update({
            "items": movies, "cold_start": cold_start, "model_version": served.info.version,
            "availability_hint": self.hint if self.availability is None else None,
            "attribution": getattr(self.availability, "attribution", None),
        })
        self._write(log_record(
            endpoint, user_id=user_id, items=[m["item_id"] for m in movies],
            scores=[m["score"] for m in movies], latency_ms=(time.perf_counter() - start) * 1000,
            model_version=served.info.version, cold_start=cold_start, request=request,
            note=body.get("note"),
        ))
        return body

    def _ranked(self, served: Served, frame: pd.DataFrame
                ) -> tuple[NDArray[np.int64], NDArray[np.float64]]:
        rec = served.info.recommender
        return (rec.items_.index(frame[ITEM_ID].to_numpy()),
                frame["score"].to_numpy(dtype=np.float64))

    # -- endpoints -----------------------------------------------------------------------
    def recommend(self, user_id: int, k: int = 10, exclude_seen: bool = True,
                  platforms: list[str] | None = None, region: str | None = None) -> dict[str, Any]:
        """Top-``k`` for ``user_id``; an unknown user gets the fallback with ``cold_start``."""
        start = time.perf_counter()
        served = self._served
        rec = served.info.recommender
        region = self.platforms.region(region)
        candidates, note = self.platforms.candidates(platforms, region)
        if not platforms:
            note = self.platforms.region_gap(region)
        recent = self.recent
        # a user who rated since the model's training data is scored from the whole history
        fresh = None
        if exclude_seen and user_id in recent and (candidates is None or candidates.size):
            mask = None if candidates is None else self._mask(served, candidates)
            fresh = rank_recent(rec, user_id, recent, k, mask)
        known = fresh is not None or served.lists.knows(user_id)
        if candidates is not None and candidates.size == 0:
            index, scores = np.empty(0, np.int64), np.empty(0)
        elif fresh is not None:
            keep = fresh[0] >= 0
            index, scores = fresh[0][keep], fresh[1][keep]
        else:
            found = None
            if exclude_seen:
                mask = None if candidates is None else self._mask(served, candidates)
                found = served.lists.top(user_id, k, mask)
            if found is None:
                recs = rec.recommend(user_id, k, exclude_seen=exclude_seen, candidates=candidates)
                found = self._ranked(served, recs.frame)
            index, scores = found
        if candidates is not None and 0 < index.size < k:
            note = _join(note, f"only {index.size} movie(s) available there")
        if not known:
            note = _join("unknown user: popularity fallback", note)
        because: list[list[int]] = [[] for _ in range(index.size)]  # no history to point at
        if fresh is not None:
            whole = rec.items_.index(recent.histories[user_id][0])
            whole = whole[whole >= 0]
            because = served.explainer.because(whole, np.ones(whole.size), index)
        elif known:
            history, weights = served.explainer.history(int(rec.users_.index([user_id])[0]))
            because = served.explainer.because(history, weights, index)
        lookup = AvailabilityLookup(self, region)
        movies = self._movies(served, index, scores, region, because, lookup)
        request = {"user_id": user_id, "k": k, "exclude_seen": exclude_seen,
                   "platforms": platforms, "region": region}
        body: dict[str, Any] = {"user_id": user_id, "k": k, "region": region,
                                "platforms": platforms, "note": _join(note, lookup.note())}
        return self._answer("recommend", start, request, served, user_id=user_id,
                            movies=movies, cold_start=not known, body=body)

    def recommend_new_user(self, liked_item_ids: list[int], k: int = 10,
                           platforms: list[str] | None = None,
                           region: str | None = None) -> dict[str, Any]:
        """Top-``k`` for a visitor known only by liked movies (cold start); a movie liked
        twice counts once."""
        start = time.perf_counter()
        served = self._served
        rec = served.info.recommender
        region = self.platforms.region(region)
        liked = list(dict.fromkeys(liked_item_ids))
        known_items = rec.items_
        unknown = [i for i in liked if i not in known_items]
        candidates, note = self.platforms.candidates(platforms, region)
        if not platforms:
            note = self.platforms.region_gap(region)
        history = rec.items_.index(np.asarray(liked, dtype=np.int64))
        history = history[history >= 0]
        if candidates is not None and candidates.size == 0:
            index, scores, folded_in = np.empty(0, np.int64), np.empty(0), False
        else:
            recs = rec.recommend_for_history(np.asarray(liked, dtype=np.int64), k=k,
                                             candidates=candidates)
            index, scores = self._ranked(served, recs.frame)
            folded_in = not recs.cold_start
        because = served.explainer.because(history, np.ones(history.size), index) \
            if folded_in else [[] for _ in range(index.size)]
        if not folded_in:
            note = _join("no usable history: popularity fallback", note)
        lookup = AvailabilityLookup(self, region)
        movies = self._movies(served, index, scores, region, because, lookup)
        request = {"liked_item_ids": liked_item_ids, "k": k, "platforms": platforms,
                   "region": region}
        body = {"k": k, "region": region, "platforms": platforms,
                "unknown_item_ids": unknown, "note": _join(note, lookup.note()),
                "fallback": not folded_in}
        return self._answer("recommend_new_user", start, request, served, user_id=None,
                            movies=movies, cold_start=True, body=body)

    def similar_items(self, item_id: int, k: int = 10) -> dict[str, Any]:
        """The ``k`` movies most similar to ``item_id``."""
        start = time.perf_counter()
        served = self._served
        rec = served.info.recommender
        if item_id not in rec.items_:
            raise UnknownItem(f"unknown item_id {item_id}: the model has no such movie")
        index, scores = self._ranked(served, rec.similar_items(item_id, k))
        lookup = AvailabilityLookup(self, self.default_region)
        movies = self._movies(served, index, scores, self.default_region, None, lookup)
        body = {"item_id": item_id, "title": self._titles.get(item_id),
                "year": self._years.get(item_id), "k": k, "region": self.default_region}
        if lookup.note():
            body["note"] = lookup.note()
        return self._answer("similar_items", start, {"item_id": item_id, "k": k}, served,
                            user_id=None, movies=movies, cold_start=None, body=body)

    def predict_rating(self, user_id: int, item_id: int) -> dict[str, Any]:
        """The model's rating (or, for ranking-only models, score) of one pair."""
        start = time.perf_counter()
        served = self._served
        rec = served.info.recommender
        if item_id not in rec.items_:
            raise UnknownItem(f"unknown item_id {item_id}: the model has no such movie")
        cold = user_id not in rec.users_
        value = float(rec.predict([user_id], [item_id])[0])
        if not math.isfinite(value):
            value = float(rec.score(user_id, [item_id])[0])
        is_rating = bool(rec.predicts_ratings)
        prediction = _finite(value)
        self._write(log_record(
            "predict_rating", user_id=user_id, items=[item_id], scores=[prediction],
            latency_ms=(time.perf_counter() - start) * 1000, model_version=served.info.version,
            cold_start=cold, request={"user_id": user_id, "item_id": item_id},
        ))
        return {"user_id": user_id, "item_id": item_id, "title": self._titles.get(item_id),
                "year": self._years.get(item_id),
                "rating": prediction if is_rating else None,
                "score": prediction, "is_rating": is_rating, "cold_start": cold,
                "model_version": served.info.version}

    def model_card(self) -> dict[str, Any]:
        """What is being served: registry facts, data hash, availability coverage."""
        served = self._served
        info, rec = served.info, served.info.recommender
        card: dict[str, Any] = {
            "model_name": MODEL_NAME,
            "version": info.version,
            "alias": info.alias,
            "variant": info.variant,
            "metrics": info.metrics,
            "data_hash": info.data_hash,
            "run_id": info.run_id,
            "source": info.source,
            "loaded_at": served.loaded_at,
            "n_users": len(rec.users_),
            "n_items": len(rec.items_),
            "predicts_ratings": bool(rec.predicts_ratings),
            "explanations": "exact" if served.explainer.exact else "similar items",
            "reload_error": self.reload_error,
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
