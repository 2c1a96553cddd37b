"""A TMDB outage does not take /recommend down: time budget, circuit breaker, stale cache.

A fake TMDB on a loopback port hangs or fails; the engine answers within its budget with
``availability: null`` (or the stale cache) and a note, and the log says so.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from recsys.availability.breaker import CircuitBreaker
from recsys.availability.tmdb import TMDBClient, TMDBProvider
from recsys.data.interactions import Interactions
from recsys.models import create
from recsys.serving.engine import RecommendationEngine
from recsys.serving.inference_log import InferenceLog, iter_log
from recsys.serving.model import ModelInfo

from .test_explain import tiny

pytestmark = pytest.mark.unit


class FakeTMDB(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), Handler)
        self.mode = "ok"
        self.hits = 0


class Handler(BaseHTTPRequestHandler):
    server: FakeTMDB

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        self.server.hits += 1
        if self.server.mode == "hang":
            time.sleep(3)
        if self.server.mode in ("hang", "fail"):
            self.send_response(503)
            self.end_headers()
            return
        body = json.dumps({"results": {"US": {"flatrate": [{"provider_name": "Netflix"}]}}}).encode()
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture()
def tmdb() -> Iterator[FakeTMDB]:
    server = FakeTMDB()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def engine_on(server: FakeTMDB, cache: Path, log: InferenceLog | None = None
              ) -> RecommendationEngine:
    ratings, items = tiny()
    items = items.assign(tmdb_id=items["item_id"] + 1000)
    model = create("popularity").fit(Interactions.from_frame(ratings, items))
    client = TMDBClient("key", base_url=f"http://127.0.0.1:{server.server_address[1]}",
                        cache_dir=cache, backoff_seconds=0.5)
    return RecommendationEngine(ModelInfo(model, "1", "test"), items, TMDBProvider(client, items),
                                log=log, networked=True, budget_seconds=0.3,
                                breaker=CircuitBreaker(failures=3, cooldown_seconds=60))


def test_a_hanging_tmdb_costs_one_budget_not_the_request(tmdb: FakeTMDB, tmp_path: Path) -> None:
    tmdb.mode = "hang"
    log = InferenceLog(tmp_path / "log.jsonl")
    engine = engine_on(tmdb, tmp_path / "cache", log)
    start = time.monotonic()
    body = engine.recommend(1, k=4)
    assert time.monotonic() - start < 1.5
    assert len(body["items"]) == 4 and all(m["availability"] is None for m in body["items"])
    assert "availability look-up ran out of time" in body["note"]
    hits = tmdb.hits
    time.sleep(1.0)
    assert tmdb.hits == hits  # nothing keeps calling TMDB after the answer
    log.close()
    record = next(iter_log(tmp_path / "log.jsonl"))
    assert record["status"] == 200 and record["note"] == body["note"]


def test_breaker_stops_calls_and_stale_cache_fills_in(tmdb: FakeTMDB, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    cache.mkdir()
    old = {"tmdb_id": 1001, "fetched_at": "2020-01-01T00:00:00+00:00", "status": 200,
           "body": {"results": {"US": {"flatrate": [{"provider_name": "Hulu"}]}}}}
    for item in range(1, 8):
        (cache / f"{1000 + item}.json").write_text(json.dumps({**old, "tmdb_id": 1000 + item}))
    tmdb.mode = "fail"
    engine = engine_on(tmdb, cache)
    for _ in range(3):
        body = engine.recommend(1, k=3)
        assert "availability source failed" in body["note"]
        assert all(m["availability"][0]["platform"] == "hulu" for m in body["items"])  # stale
    assert engine.breaker.is_open
    hits = tmdb.hits
    body = engine.recommend(2, k=3)
    assert tmdb.hits == hits and "circuit open" in body["note"]
    assert all(m["availability"] is not None for m in body["items"])


def test_healthy_tmdb_is_used(tmdb: FakeTMDB, tmp_path: Path) -> None:
    engine = engine_on(tmdb, tmp_path / "cache")
    body = engine.recommend(1, k=3)
    assert body["note"] is None
    assert all(m["availability"][0]["platform"] == "netflix" for m in body["items"])
