"""The TMDB watch-providers client and provider against a local TMDB double."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest

from recsys.availability import AvailabilityProvider
from recsys.availability.tmdb import (
    ATTRIBUTION,
    TMDBClient,
    TMDBError,
    TMDBProvider,
    parse_watch_providers,
)

from .conftest import API_KEY, FIGHT_CLUB, INFINITY_WAR, FakeTMDB

pytestmark = pytest.mark.unit


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 1, 1, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


def _client(base: str, tmp_path: Path, **kwargs: object) -> tuple[TMDBClient, list[float]]:
    sleeps: list[float] = []
    client = TMDBClient(API_KEY, base_url=base, cache_dir=tmp_path / "cache",
                        sleep=sleeps.append, **kwargs)  # type: ignore[arg-type]
    return client, sleeps


def test_parse_handles_missing_lists_and_empty_results() -> None:
    offers = parse_watch_providers(INFINITY_WAR)
    assert {(o.region, o.platform, o.offer_type) for o in offers} == {
        ("AD", "disney_plus", "flatrate"), ("AE", "apple_tv", "buy"), ("AE", "apple_tv", "rent"),
    }
    assert parse_watch_providers({"id": 1, "results": {}}) == []
    assert parse_watch_providers({"id": 1}) == []
    fight = parse_watch_providers(FIGHT_CLUB)
    assert any(o.platform == "prime_video" and o.region == "AE" for o in fight)
    assert all(o.link and o.link.startswith("https://www.themoviedb.org/movie/550") for o in fight)


def test_fetch_caches_with_date_and_expires(fake_tmdb: tuple[str, FakeTMDB], tmp_path: Path) -> None:
    base, fake = fake_tmdb
    clock = Clock()
    client, _ = _client(base, tmp_path, now=clock, max_age_days=7)
    assert client.watch_providers(550) == FIGHT_CLUB
    entry = json.loads((tmp_path / "cache" / "550.json").read_text())
    assert entry["fetched_at"] == clock.now.isoformat() and entry["status"] == 200
    assert client.watch_providers(550) == FIGHT_CLUB
    assert fake.hits[550] == 1  # served from the cache
    clock.now += timedelta(days=8)
    assert client.watch_providers(550) == FIGHT_CLUB
    assert fake.hits[550] == 2  # expired, fetched again


def test_unknown_id_is_none_and_cached(fake_tmdb: tuple[str, FakeTMDB], tmp_path: Path) -> None:
    base, fake = fake_tmdb
    client, _ = _client(base, tmp_path)
    assert client.watch_providers(123456789) is None
    assert client.watch_providers(123456789) is None
    assert fake.hits[123456789] == 1


def test_429_honours_retry_after(fake_tmdb: tuple[str, FakeTMDB], tmp_path: Path) -> None:
    base, fake = fake_tmdb
    client, sleeps = _client(base, tmp_path, backoff_seconds=0.1)
    assert client.watch_providers(429) == {"id": 429, "results": {}}
    assert sleeps == [2.0] and fake.hits[429] == 2


def test_5xx_backs_off_exponentially(fake_tmdb: tuple[str, FakeTMDB], tmp_path: Path) -> None:
    base, fake = fake_tmdb
    client, sleeps = _client(base, tmp_path, backoff_seconds=0.5)
    assert client.watch_providers(503) == {"id": 503, "results": {}}
    assert sleeps == [0.5, 1.0] and fake.hits[503] == 3


def test_gives_up_after_retries(fake_tmdb: tuple[str, FakeTMDB], tmp_path: Path) -> None:
    base, fake = fake_tmdb
    client, sleeps = _client(base, tmp_path, max_retries=3, backoff_seconds=1, max_wait_seconds=3)
    with pytest.raises(TMDBError, match="giving up after 4 attempts.*HTTP 500"):
        client.watch_providers(500)
    assert sleeps == [1, 2, 3] and fake.hits[500] == 4
    assert not (tmp_path / "cache" / "500.json").exists()


def test_bad_key_is_not_retried(fake_tmdb: tuple[str, FakeTMDB], tmp_path: Path) -> None:
    base, _ = fake_tmdb
    client = TMDBClient("wrong", base_url=base, sleep=lambda s: None)
    with pytest.raises(TMDBError, match="401"):
        client.watch_providers(550)
    assert client.requests_made == 1


def test_key_and_base_url_from_environment(monkeypatch: pytest.MonkeyPatch,
                                           fake_tmdb: tuple[str, FakeTMDB]) -> None:
    base, _ = fake_tmdb
    monkeypatch.delenv("TMDB_API_KEY", raising=False)
    with pytest.raises(TMDBError, match="TMDB_API_KEY"):
        TMDBClient()
    monkeypatch.setenv("TMDB_API_KEY", API_KEY)
    monkeypatch.setenv("TMDB_BASE_URL", base)
    assert TMDBClient().watch_providers(862) == {"id": 862, "results": {}}


def test_unreachable_server_is_retried_then_fails(tmp_path: Path) -> None:
    sleeps: list[float] = []
    client = TMDBClient(API_KEY, base_url="http://127.0.0.1:9/3", max_retries=2,
                        sleep=sleeps.append, timeout=1)
    with pytest.raises(TMDBError, match="giving up after 3 attempts"):
        client.watch_providers(550)
    assert len(sleeps) == 2


def test_provider(fake_tmdb: tuple[str, FakeTMDB], tmp_path: Path) -> None:
    base, _ = fake_tmdb
    client, _ = _client(base, tmp_path)
    items = pd.DataFrame({"item_id": [2959, 122912, 1, 5], "title": ["Fight Club", "Avengers",
                                                                    "Toy Story", "No Id"],
                          "year": [1999, 2018, 1995, 2000],
                          "tmdb_id": pd.array([550, 299536, 862, None], dtype="Int64")})
    provider = TMDBProvider(client, items)
    assert isinstance(provider, AvailabilityProvider)
    assert "JustWatch" in (provider.attribution or "") and provider.attribution == ATTRIBUTION
    us = provider.offers(2959, "us")
    assert us is not None and [(o.platform, o.offer_type) for o in us] == [("hulu", "flatrate")]
    assert provider.offers(1) == []     # known to TMDB, no offers anywhere
    assert provider.offers(5) is None   # no TMDB id: no information
    assert provider.prefetch([2959, 122912, 1, 5]) == 3
    assert provider.items_on(["Hulu"], "US") == {2959}
    assert provider.items_on(["Disney Plus"], "AD") == {122912}
    assert provider.items_on(["Apple TV"], "AE") == set()  # rent/buy is not streaming
