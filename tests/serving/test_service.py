"""The service end to end: a real ``bentoml serve`` on loopback, real ML-100K, real catalogues."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from .conftest import RunningServer

pytestmark = pytest.mark.integration


def _ok(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


def test_probes_and_model_card(client: httpx.Client) -> None:
    assert client.get("/healthz").status_code == 200
    assert client.get("/readyz").status_code == 200
    card = _ok(client.get("/model"))
    assert card["version"] == "7" and card["alias"] == "champion"
    assert card["metrics"] == {"ndcg_at_10": 0.123} and card["data_hash"] == "sha256:test"
    assert card["n_users"] == 943 and card["n_items"] == 1682
    rates = card["availability"]["match_rates"]
    assert 0.2 < rates["any"] < 0.35 and card["availability"]["provider"] == "catalogue"


def test_recommend_known_user(client: httpx.Client, ml100k: tuple[pd.DataFrame, ...]) -> None:
    ratings = ml100k[0]
    body = _ok(client.post("/recommend", json={"user_id": 1, "k": 10}))
    items = body["items"]
    assert [m["rank"] for m in items] == list(range(1, 11))
    scores = [m["score"] for m in items]
    assert scores == sorted(scores, reverse=True)
    assert body["cold_start"] is False and body["model_version"] == "7"
    seen = set(ratings.loc[ratings["user_id"] == 1, "item_id"])
    assert not seen & {m["item_id"] for m in items}
    assert all(m["title"] and isinstance(m["year"], int) for m in items)
    assert all(isinstance(m["availability"], list) for m in items)
    with_seen = _ok(client.post("/recommend", json={"user_id": 1, "k": 10, "exclude_seen": False}))
    assert {m["item_id"] for m in with_seen["items"]} & seen


def test_every_recommended_movie_says_because(client: httpx.Client,
                                             ml100k: tuple[pd.DataFrame, ...]) -> None:
    ratings = ml100k[0]
    seen = set(ratings.loc[ratings["user_id"] == 1, "item_id"])
    body = _ok(client.post("/recommend", json={"user_id": 1, "k": 10}))
    for movie in body["items"]:
        assert 1 <= len(movie["because"]) <= 3
        assert {b["item_id"] for b in movie["because"]} <= seen
        assert all(b["title"] for b in movie["because"])
    liked = [50, 172, 181]
    visitor = _ok(client.post("/recommend_new_user", json={"liked_item_ids": liked, "k": 5}))
    assert all(1 <= len(m["because"]) <= 3 and {b["item_id"] for b in m["because"]} <= set(liked)
               for m in visitor["items"])


def test_unknown_user_gets_cold_start(client: httpx.Client) -> None:
    body = _ok(client.post("/recommend", json={"user_id": 999_999, "k": 5}))
    assert body["cold_start"] is True and len(body["items"]) == 5
    assert "fallback" in body["note"]


def test_users_who_rated_since_training_are_served_from_their_whole_history(
        client: httpx.Client, server: RunningServer, ml100k: tuple[pd.DataFrame, ...]) -> None:
    """The monitor's recent histories (``MOVIEREC_RECENT_HISTORIES``) are read on reload: a
    visitor the model never saw is served from them (no cold start), a known user's new
    ratings count at once, and removing the table serves the trained rows again."""
    ratings = ml100k[0]
    path = Path(str(server.output.parent / "recent.parquet"))
    newcomer, known = 987_654, 3
    extra = [50, 172, 181, 174, 127]
    known_history = ratings[ratings["user_id"] == known]
    before = _ok(client.post("/recommend", json={"user_id": known, "k": 10}))
    fresh_items = [m["item_id"] for m in before["items"][:3]]
    rows = [(newcomer, i, 5.0, 900_000_000 + n) for n, i in enumerate(extra)]
    rows += [(known, i, 5.0, 900_000_100 + n) for n, i in enumerate(fresh_items)]
    frame = pd.concat([known_history, pd.DataFrame(rows, columns=known_history.columns)],
                      ignore_index=True)
    try:
        frame.to_parquet(path, index=False)
        assert client.post("/admin/reload").status_code == 200
        visitor = _ok(client.post("/recommend", json={"user_id": newcomer, "k": 5}))
        assert visitor["cold_start"] is False and len(visitor["items"]) == 5
        assert not {m["item_id"] for m in visitor["items"]} & set(extra)
        assert all({b["item_id"] for b in m["because"]} <= set(extra) for m in visitor["items"])
        after = _ok(client.post("/recommend", json={"user_id": known, "k": 10}))
        # what the user rated since no longer comes back, and the list moved
        assert not {m["item_id"] for m in after["items"]} & set(fresh_items)
    finally:
        path.unlink(missing_ok=True)
    assert client.post("/admin/reload").status_code == 200
    assert _ok(client.post("/recommend", json={"user_id": newcomer, "k": 5}))["cold_start"]
    assert _ok(client.post("/recommend", json={"user_id": known, "k": 10}))["items"] == \
        before["items"]


def test_platform_filter_returns_top_k_among_available(client: httpx.Client) -> None:
    wide = _ok(client.post("/recommend", json={"user_id": 13, "k": 100}))["items"]
    on_netflix = [m["item_id"] for m in wide
                  if any(o["platform"] == "netflix" and o["region"] == "US"
                         for o in m["availability"])]
    assert len(on_netflix) >= 5, "too few Netflix movies in the top 100 for this check"
    k = 5
    body = _ok(client.post("/recommend", json={"user_id": 13, "k": k, "platforms": ["Netflix"]}))
    assert [m["item_id"] for m in body["items"]] == on_netflix[:k]
    assert len(body["items"]) == k  # the top k among available, not the top k filtered down
    assert all(any(o["platform"] == "netflix" for o in m["availability"]) for m in body["items"])
    both = _ok(client.post("/recommend", json={"user_id": 13, "k": 20,
                                              "platforms": ["netflix", "disney+"]}))
    assert len(both["items"]) == 20


def test_region_without_data_is_unknown_not_an_error(client: httpx.Client) -> None:
    """The catalogues are US-only: in GB availability is unknown (null), not empty, and the
    platform filter is not applied (as when no availability is configured), with a note."""
    body = _ok(client.post("/recommend", json={"user_id": 1, "k": 5, "platforms": ["netflix"],
                                              "region": "gb"}))
    assert len(body["items"]) == 5 and body["region"] == "GB"
    assert all(m["availability"] is None for m in body["items"])
    assert body["note"].startswith("platform filter not applied: no streaming data for region GB")


def test_new_user(client: httpx.Client) -> None:
    body = _ok(client.post("/recommend_new_user",
                           json={"liked_item_ids": [50, 172, 181, 424242], "k": 8}))
    ids = [m["item_id"] for m in body["items"]]
    assert len(ids) == 8 and not {50, 172, 181} & set(ids)
    assert body["unknown_item_ids"] == [424242] and body["cold_start"] is True
    empty = _ok(client.post("/recommend_new_user", json={"liked_item_ids": [], "k": 3}))
    assert len(empty["items"]) == 3 and empty["fallback"] is True


def test_similar_items_and_predict_rating(client: httpx.Client) -> None:
    body = _ok(client.post("/similar_items", json={"item_id": 50, "k": 4}))
    assert body["title"] == "Star Wars" and len(body["items"]) == 4
    assert 50 not in [m["item_id"] for m in body["items"]]
    pred = _ok(client.post("/predict_rating", json={"user_id": 1, "item_id": 50}))
    assert pred["cold_start"] is False and pred["score"] is not None and pred["title"] == "Star Wars"
    cold = _ok(client.post("/predict_rating", json={"user_id": 999_999, "item_id": 50}))
    assert cold["cold_start"] is True


@pytest.mark.parametrize(
    ("path", "payload", "status", "says"),
    [
        ("/recommend", {"user_id": 1, "k": 0}, 400, "k:"),
        ("/recommend", {"user_id": 1, "k": 101}, 400, "k:"),
        ("/recommend", {"user_id": 1, "k": "5"}, 400, "k:"),
        ("/recommend", {"user_id": 1, "k": 2.5}, 400, "k:"),
        ("/recommend", {"user_id": 1, "k": True}, 400, "k:"),
        ("/recommend", {"user_id": "abc"}, 400, "user_id:"),
        ("/recommend", {"user_id": 2**70}, 400, "user_id:"),
        ("/recommend", {"user_id": -3}, 400, "user_id:"),
        ("/recommend", {"user_id": None}, 400, "user_id:"),
        ("/recommend_new_user", {"liked_item_ids": [2**64]}, 400, "liked_item_ids"),
        ("/similar_items", {"item_id": 2**63}, 400, "item_id:"),
        ("/recommend", {"k": 3}, 400, "user_id: Field required"),
        ("/recommend", {"user_id": 1, "exclude_seen": "yes"}, 400, "exclude_seen:"),
        ("/recommend", {"user_id": 1, "platforms": "netflix"}, 400, "platforms:"),
        ("/recommend", {"user_id": 1, "platforms": []}, 400, "platforms:"),
        ("/recommend", {"user_id": 1, "platforms": ["peacock"]}, 400, "unknown platform"),
        ("/recommend", {"user_id": 1, "region": "USA"}, 400, "region:"),
        ("/recommend", [1, 2], 400, "object"),
        ("/recommend_new_user", {"liked_item_ids": ["a"]}, 400, "liked_item_ids"),
        ("/recommend_new_user", {"liked_item_ids": [1], "k": -1}, 400, "k:"),
        ("/similar_items", {"item_id": 987654}, 404, "unknown item_id 987654"),
        ("/similar_items", {"item_id": 1, "k": 1000}, 400, "k:"),
        ("/predict_rating", {"user_id": 1, "item_id": 987654}, 404, "unknown item_id"),
        ("/predict_rating", {"user_id": 1}, 400, "item_id: Field required"),
        # unknown fields are refused: a typo must not silently switch the platform filter off
        ("/recommend", {"user_id": 1, "platform": ["netflix"]}, 400,
         "platform: Extra inputs are not permitted"),
        ("/recommend_new_user", {"liked_item_ids": [1], "top_k": 3}, 400, "top_k: Extra inputs"),
        ("/similar_items", {"item_id": 1, "region": "US"}, 400, "region: Extra inputs"),
        ("/predict_rating", {"user_id": 1, "item_id": 1, "x": 0}, 400, "x: Extra inputs"),
        # control characters would be echoed into notes, responses and the log
        ("/recommend", {"user_id": 1, "platforms": ["net\u0000flix"]}, 400, "platforms.0:"),
        ("/recommend_new_user", {"liked_item_ids": [1], "platforms": ["hulu\n"]}, 400,
         "platforms.0:"),
        ("/recommend", {"user_id": 1, "platforms": ["\u009bnetflix"]}, 400, "platforms.0:"),
    ],
)
def test_invalid_input_is_a_clear_4xx(client: httpx.Client, path: str, payload: object,
                                      status: int, says: str) -> None:
    response = client.post(path, json=payload)
    assert response.status_code == status, response.text
    assert says in response.json()["error"]


def test_malformed_oversized_and_non_json_bodies(client: httpx.Client) -> None:
    broken = client.post("/recommend", content=b'{"user_id": 1,', headers={"content-type": "application/json"})
    assert broken.status_code == 400 and "Invalid JSON" in broken.json()["error"]
    big = client.post("/recommend_new_user", json={"liked_item_ids": list(range(20_000))})
    assert big.status_code == 413 and "exceeds the limit" in big.json()["error"]

    def chunks() -> Any:  # no Content-Length: the limit must hold while streaming too
        for _ in range(40):
            yield b" " * 1024

    streamed = client.post("/recommend", content=chunks(), headers={"content-type": "application/json"})
    assert streamed.status_code == 413
    form = client.post("/recommend", data={"user_id": "1"})
    assert form.status_code == 415 and "application/json" in form.json()["error"]


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats() | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=10,
)
fields = st.fixed_dictionaries({}, optional={
    "user_id": json_values, "k": json_values, "exclude_seen": json_values,
    "platforms": json_values, "region": json_values, "liked_item_ids": json_values,
    "item_id": json_values,
})


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(path=st.sampled_from(["/recommend", "/recommend_new_user", "/similar_items",
                             "/predict_rating"]), body=fields | json_values)
def test_no_input_gives_500(server: RunningServer, path: str, body: object) -> None:
    data = json.dumps(body, allow_nan=True).encode()
    response = httpx.post(server.url + path, content=data,
                          headers={"content-type": "application/json"}, timeout=30)
    assert response.status_code < 500, (body, response.text)
    if response.status_code >= 400:
        assert response.json()["error"]


def test_every_request_is_logged(client: httpx.Client, server: RunningServer) -> None:
    client.post("/recommend", json={"user_id": 5, "k": 3})
    client.post("/recommend", json={"user_id": 5, "k": 0})
    records = server.log_records_until(
        lambda rs: any(r["status"] == 400 and r["request"] == {"user_id": 5, "k": 0} for r in rs))
    ok = [r for r in records if r["endpoint"] == "recommend" and r["user_id"] == 5
          and r["status"] == 200]
    assert ok, records[-5:]
    last = ok[-1]
    for key in ("ts", "endpoint", "user_id", "items", "scores", "latency_ms", "model_version",
                "cold_start"):
        assert key in last
    assert len(last["items"]) == len(last["scores"]) == 3 and last["model_version"] == "7"
    refused = [r for r in records if r["status"] == 400 and r["request"] == {"user_id": 5, "k": 0}]
    assert refused and "k:" in refused[-1]["error"]
    assert {r["status"] for r in records} >= {200, 400, 404, 413, 415}


def test_one_log_handle_per_worker(client: httpx.Client, server: RunningServer) -> None:
    """Answers (the engine) and refusals (the middleware) go through one log object."""
    import psutil

    _ok(client.post("/recommend", json={"user_id": 6, "k": 2}))
    assert client.post("/recommend", json={"user_id": 6, "k": 0}).status_code == 400
    log = server.log_path.resolve()
    root = psutil.Process(server.process.pid)
    handles = {}
    for proc in [root, *root.children(recursive=True)]:
        try:
            handles[proc.pid] = len({f.fd for f in proc.open_files() if Path(f.path).resolve() == log})
        except psutil.NoSuchProcess:
            continue
    assert max(handles.values()) == 1, handles
