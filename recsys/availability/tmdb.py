"""TMDB watch providers (JustWatch data): a cached, retrying client and a provider over it.

``GET {base}/movie/{tmdb_id}/watch/providers?api_key=...`` answers
``{"id": ..., "results": {"<CC>": {"link": ..., "flatrate": [...], "rent": [...], ...}}}``
where every offer list is optional and ``results`` may be empty
(``../shared/data/streaming/TMDB_WATCH_PROVIDERS_FORMAT.md``). Unknown ids answer 404.

* The API key comes from ``$TMDB_API_KEY``; the base URL from ``$TMDB_BASE_URL`` (tests
  point it at a local server).
* Answers are cached on disk, one JSON file per id holding the fetch date; entries older
  than ``max_age_days`` are fetched again (availability changes over time). 404s are
  cached too, so unknown ids are not asked for again and again.
* 429 (honouring ``Retry-After``), 5xx and connection errors are retried with exponential
  back-off; other 4xx are not.
* TMDB's terms require attributing the data to JustWatch: ``ATTRIBUTION``.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pandas as pd

from recsys.availability.provider import (
    DEFAULT_REGION,
    OFFER_TYPES,
    AvailabilityError,
    Offer,
    canonical_platform,
)

DEFAULT_BASE_URL = "https://api.themoviedb.org/3"
ATTRIBUTION = "Streaming availability data by JustWatch (via TMDB, www.justwatch.com)."
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})


class TMDBError(AvailabilityError):
    """TMDB could not be asked (bad key, retries exhausted, unreadable answer)."""


def parse_watch_providers(body: dict[str, Any], source: str = "tmdb") -> list[Offer]:
    """Offers of one TMDB answer, every country and offer kind; missing lists are no offers."""
    results = body.get("results") or {}
    if not isinstance(results, dict):
        raise TMDBError(f"unexpected 'results' in TMDB answer: {type(results).__name__}")
    offers = []
    for region, block in sorted(results.items()):
        if not isinstance(block, dict):
            continue
        for offer_type in OFFER_TYPES:
            for provider in block.get(offer_type) or ():
                name = provider.get("provider_name")
                if not name:
                    continue
                offers.append(Offer(canonical_platform(name), region.upper(), offer_type, source,
                                    block.get("link")))
    return offers


class TMDBClient:
    """Fetch ``/movie/{id}/watch/providers`` with an on-disk cache and retries.

    Args:
        api_key: v3 API key; default ``$TMDB_API_KEY``.
        base_url: API root; default ``$TMDB_BASE_URL`` or ``DEFAULT_BASE_URL``.
        cache_dir: folder of cached answers (``<id>.json``); ``None`` = no cache.
        max_age_days: cached answers older than this are fetched again.
        max_retries: retries after the first attempt for 429/5xx/connection errors.
        backoff_seconds: first back-off; doubles every retry.
        max_wait_seconds: cap on any single wait (also on ``Retry-After``).
        timeout: per-request timeout in seconds.
        sleep: how to wait (tests pass a recorder).
        now: the clock (tests move it forward).
    """

    def __init__(
        self,
        api_key: str | None = None,
        *,
        base_url: str | None = None,
        cache_dir: str | Path | None = None,
        max_age_days: float = 7.0,
        max_retries: int = 4,
        backoff_seconds: float = 0.5,
        max_wait_seconds: float = 30.0,
        timeout: float = 10.0,
        sleep: Callable[[float], None] = time.sleep,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.api_key = api_key if api_key is not None else os.environ.get("TMDB_API_KEY", "")
        if not self.api_key:
            raise TMDBError("no TMDB API key: set TMDB_API_KEY")
        self.base_url = (base_url or os.environ.get("TMDB_BASE_URL") or DEFAULT_BASE_URL).rstrip("/")
        self.cache_dir = Path(cache_dir) if cache_dir is not None else None
        self.max_age = timedelta(days=max_age_days)
        self.max_retries = max_retries
        self.backoff_seconds = backoff_seconds
        self.max_wait_seconds = max_wait_seconds
        self.sleep = sleep
        self.now = now
        self.requests_made = 0
        self.timeout = timeout
        self._http = httpx.Client(timeout=timeout)

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> TMDBClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- cache ---------------------------------------------------------------------------
    def _cache_path(self, tmdb_id: int) -> Path | None:
        return None if self.cache_dir is None else self.cache_dir / f"{int(tmdb_id)}.json"

    def cached(self, tmdb_id: int, *, stale_ok: bool = False) -> dict[str, Any] | None:
        """The cached entry ``{"fetched_at", "status", "body"}`` if present and fresh (or
        of any age with ``stale_ok``: better than nothing while TMDB is down)."""
        path = self._cache_path(tmdb_id)
        if path is None or not path.is_file():
            return None
        try:
            entry = json.loads(path.read_text())
            fetched = datetime.fromisoformat(entry["fetched_at"])
        except (ValueError, KeyError, TypeError):
            return None  # a corrupt entry is refetched, not fatal
        if not stale_ok and self.now() - fetched > self.max_age:
            return None
        return entry  # type: ignore[no-any-return]

    def _store(self, tmdb_id: int, status: int, body: dict[str, Any] | None) -> None:
        path = self._cache_path(tmdb_id)
        if path is None:
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        entry = {"tmdb_id": int(tmdb_id), "fetched_at": self.now().isoformat(),
                 "status": status, "body": body}
        tmp = path.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(entry))
        tmp.replace(path)

    # -- fetching ------------------------------------------------------------------------
    def _wait(self, attempt: int, retry_after: str | None) -> float:
        wait = self.backoff_seconds * (2**attempt)
        # An HTTP-date Retry-After is not parsed: the exponential wait stands.
        if retry_after:
            with contextlib.suppress(ValueError):
                wait = max(wait, float(retry_after))
        return min(wait, self.max_wait_seconds)

    def watch_providers(self, tmdb_id: int, deadline: float | None = None) -> dict[str, Any] | None:
        """The answer for ``tmdb_id`` (cached when fresh); ``None`` for an id TMDB lacks.

        Args:
            tmdb_id: the movie's TMDB id.
            deadline: ``time.monotonic()`` by which to give up (a request's time budget):
                each attempt's timeout is cut to it, and no retry waits past it.
        """
        entry = self.cached(tmdb_id)
        if entry is not None:
            return entry["body"] if entry["status"] == 200 else None
        url = f"{self.base_url}/movie/{int(tmdb_id)}/watch/providers"
        last_problem = ""
        for attempt in range(self.max_retries + 1):
            retry_after = None
            timeout = self.timeout
            if deadline is not None:
                timeout = min(timeout, deadline - time.monotonic())
                if timeout <= 0:
                    raise TMDBError(f"TMDB id {tmdb_id}: out of time ({last_problem or 'budget spent'})")
            try:
                self.requests_made += 1
                response = self._http.get(url, params={"api_key": self.api_key}, timeout=timeout)
            except httpx.TransportError as exc:
                last_problem = f"{type(exc).__name__}: {exc}"
            else:
                if response.status_code == 200:
                    try:
                        body = response.json()
                    except ValueError as exc:
                        raise TMDBError(f"TMDB answered non-JSON for id {tmdb_id}") from exc
                    if not isinstance(body, dict):
                        raise TMDBError(f"TMDB answered a {type(body).__name__} for id {tmdb_id}")
                    self._store(tmdb_id, 200, body)
                    return body
                if response.status_code == 404:
                    self._store(tmdb_id, 404, None)
                    return None
                if response.status_code not in RETRY_STATUSES:
                    raise TMDBError(
                        f"TMDB answered {response.status_code} for id {tmdb_id}: "
                        f"{response.text[:200]}"
                    )
                last_problem = f"HTTP {response.status_code}"
                retry_after = response.headers.get("Retry-After")
            if attempt < self.max_retries:
                wait = self._wait(attempt, retry_after)
                if deadline is not None and time.monotonic() + wait >= deadline:
                    raise TMDBError(f"TMDB id {tmdb_id}: out of time ({last_problem})")
                self.sleep(wait)
        raise TMDBError(
            f"TMDB id {tmdb_id}: giving up after {self.max_retries + 1} attempts ({last_problem})"
        )


class TMDBProvider:
    """Streaming availability from TMDB watch providers (``AvailabilityProvider``).

    MovieLens items are mapped to TMDB ids through the items table's ``tmdb_id`` column
    (ml-latest-small has it; ML-100K does not). ``offers`` fetches on demand (cached);
    ``items_on`` only knows the movies already fetched, so call ``prefetch`` first for the
    items a platform filter should consider.
    """

    name = "tmdb"
    attribution: str | None = ATTRIBUTION

    def __init__(self, client: TMDBClient, items: pd.DataFrame) -> None:
        self.client = client
        ids = items.dropna(subset=["tmdb_id"]) if "tmdb_id" in items else items.iloc[0:0]
        self.tmdb_of: dict[int, int] = {
            int(i): int(t) for i, t in zip(ids["item_id"], ids["tmdb_id"], strict=True)
        }
        self._offers: dict[int, list[Offer]] = {}

    def _load(self, item_id: int, deadline: float | None = None) -> list[Offer] | None:
        if item_id in self._offers:
            return self._offers[item_id]
        tmdb_id = self.tmdb_of.get(item_id)
        if tmdb_id is None:
            return None
        body = self.client.watch_providers(tmdb_id, deadline=deadline)
        offers = [] if body is None else parse_watch_providers(body)
        self._offers[item_id] = offers
        return offers

    def prefetch(self, item_ids: Iterable[int]) -> int:
        """Fetch (or read from cache) the offers of ``item_ids``; returns how many are known."""
        return sum(self._load(int(i)) is not None for i in item_ids)

    def platforms(self) -> list[str]:
        return sorted({o.platform for offers in self._offers.values() for o in offers})

    def regions(self) -> None:
        """Any region: TMDB answers per movie for every country it covers."""
        return None

    def offers(self, item_id: int, region: str = DEFAULT_REGION,
               deadline: float | None = None) -> list[Offer] | None:
        """Offers in ``region``, fetched by ``deadline`` (``time.monotonic()``) if given."""
        offers = self._load(int(item_id), deadline)
        if offers is None:
            return None
        return [o for o in offers if o.region == region.upper()]

    def stale_offers(self, item_id: int, region: str = DEFAULT_REGION) -> list[Offer] | None:
        """Offers from memory or the on-disk cache, however old; never calls TMDB."""
        offers = self._offers.get(int(item_id))
        if offers is None:
            tmdb_id = self.tmdb_of.get(int(item_id))
            entry = None if tmdb_id is None else self.client.cached(tmdb_id, stale_ok=True)
            if entry is None:
                return None
            offers = parse_watch_providers(entry["body"]) if entry["status"] == 200 else []
        return [o for o in offers if o.region == region.upper()]

    def items_on(self, platforms: Iterable[str], region: str = DEFAULT_REGION) -> set[int]:
        wanted = {canonical_platform(p) for p in platforms}
        region = region.upper()
        return {
            item for item, offers in self._offers.items()
            if any(o.platform in wanted and o.region == region
                   and o.offer_type in ("flatrate", "free", "ads") for o in offers)
        }
