"""Fixtures for availability tests: the shared streaming tables and a local TMDB double."""

from __future__ import annotations

import json
import threading
from collections import defaultdict
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

import pandas as pd
import pytest

API_KEY = "test-key"

# Answers in the documented format (../shared/data/streaming/TMDB_WATCH_PROVIDERS_FORMAT.md),
# with the real provider ids and logo paths quoted there.
FIGHT_CLUB = {
    "id": 550,
    "results": {
        "AE": {
            "link": "https://www.themoviedb.org/movie/550-fight-club/watch?locale=AE",
            "flatrate": [{"logo_path": "/emthp39XA2YScoYL1p0sdbAH2WA.jpg", "provider_id": 119,
                          "provider_name": "Amazon Prime Video", "display_priority": 12}],
            "rent": [{"logo_path": "/peURlLlr8jggOwK53fJ5wdQl05y.jpg", "provider_id": 2,
                      "provider_name": "Apple TV", "display_priority": 4}],
            "buy": [{"logo_path": "/peURlLlr8jggOwK53fJ5wdQl05y.jpg", "provider_id": 2,
                     "provider_name": "Apple TV", "display_priority": 4}],
        },
        "AT": {
            "link": "https://www.themoviedb.org/movie/550-fight-club/watch?locale=AT",
            "flatrate": [{"logo_path": "/7rwgEs15tFwyR9NPQ5vpzxTj19Q.jpg", "provider_id": 337,
                          "provider_name": "Disney Plus", "display_priority": 1}],
        },
        "US": {
            "link": "https://www.themoviedb.org/movie/550-fight-club/watch?locale=US",
            "flatrate": [{"logo_path": "/pbpMk2JmcoNnQwx5JGpXngfoWtp.jpg", "provider_id": 15,
                          "provider_name": "Hulu", "display_priority": 3}],
        },
    },
}
INFINITY_WAR = {  # offer lists simply absent when empty
    "id": 299536,
    "results": {
        "AD": {"link": "https://www.themoviedb.org/movie/299536/watch?locale=AD",
               "flatrate": [{"logo_path": "/7rwgEs15tFwyR9NPQ5vpzxTj19Q.jpg", "provider_id": 337,
                             "provider_name": "Disney Plus", "display_priority": 1}]},
        "AE": {"link": "https://www.themoviedb.org/movie/299536/watch?locale=AE",
               "buy": [{"logo_path": "/peURlLlr8jggOwK53fJ5wdQl05y.jpg", "provider_id": 2,
                        "provider_name": "Apple TV", "display_priority": 4}],
               "rent": [{"logo_path": "/peURlLlr8jggOwK53fJ5wdQl05y.jpg", "provider_id": 2,
                         "provider_name": "Apple TV", "display_priority": 4}]},
    },
}
NOT_FOUND = {"success": False, "status_code": 34,
             "status_message": "The resource you requested could not be found."}


class FakeTMDB:
    """Scripted answers by TMDB id; counts requests per id."""

    def __init__(self) -> None:
        self.hits: dict[int, int] = defaultdict(int)
        self.bodies: dict[int, dict[str, Any]] = {
            550: FIGHT_CLUB, 299536: INFINITY_WAR, 862: {"id": 862, "results": {}},
        }
        #: id -> list of (status, headers) answered before the body (then 200).
        self.failures: dict[int, list[tuple[int, dict[str, str]]]] = {
            429: [(429, {"Retry-After": "2"})],
            503: [(503, {}), (502, {})],
            500: [(500, {})] * 50,
        }
        self.bodies.update({i: {"id": i, "results": {}} for i in self.failures})

    def answer(self, path: str, query: dict[str, list[str]]) -> tuple[int, dict[str, str], Any]:
        if query.get("api_key") != [API_KEY]:
            return 401, {}, {"success": False, "status_code": 7,
                             "status_message": "Invalid API key: You must be granted a valid key."}
        parts = path.strip("/").split("/")
        if len(parts) != 5 or parts[:2] != ["3", "movie"] or parts[3:] != ["watch", "providers"]:
            return 404, {}, NOT_FOUND
        tmdb_id = int(parts[2])
        self.hits[tmdb_id] += 1
        script = self.failures.get(tmdb_id, [])
        if self.hits[tmdb_id] <= len(script):
            status, headers = script[self.hits[tmdb_id] - 1]
            return status, headers, {"status_code": 25, "status_message": "try again"}
        if tmdb_id not in self.bodies:
            return 404, {}, NOT_FOUND
        return 200, {}, self.bodies[tmdb_id]


@pytest.fixture()
def fake_tmdb() -> Iterator[tuple[str, FakeTMDB]]:
    """A TMDB double on 127.0.0.1 (free port) in a thread: ``(base_url, fake)``."""
    fake = FakeTMDB()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - http.server's naming
            url = urlparse(self.path)
            status, headers, body = fake.answer(url.path, parse_qs(url.query))
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json;charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            for key, value in headers.items():
                self.send_header(key, value)
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/3", fake
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


@pytest.fixture(scope="session")
def ml_latest_small_items(tmp_path_factory: pytest.TempPathFactory, mirror: Path) -> pd.DataFrame:
    from recsys.data.fetch import fetch
    from recsys.data.prepare import prepare

    if not (mirror / "ml-latest-small" / "links.csv").is_file():
        pytest.skip("no ml-latest-small in the mirror")
    root = tmp_path_factory.mktemp("mls")
    fetch("ml-latest-small", cache_dir=root / "raw", source=mirror)
    return prepare("ml-latest-small", raw_dir=root / "raw", out_dir=root / "processed").items
