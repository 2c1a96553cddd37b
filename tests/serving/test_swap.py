"""Hot model swaps through a real ``bentoml serve``: the served folder is re-pointed under
load; every request succeeds and every answer is exactly one model's own list."""

from __future__ import annotations

import json
import os
import threading
import time
from pathlib import Path

import httpx
import pandas as pd
import pytest
from starlette.testclient import TestClient

from bentos.api import EngineHolder, build_app

from .conftest import bentoml_serve

SERVICE = "bentos.service:MovieRecommender"
USERS = list(range(1, 60))


def point(link: Path, target: Path) -> None:
    """Re-point ``link`` at ``target`` atomically (what a deploy script does)."""
    tmp = link.with_name(link.name + ".tmp")
    if tmp.is_symlink():
        tmp.unlink()
    tmp.symlink_to(target)
    os.replace(tmp, link)


def saved(folder: Path, name: str, version: str,
          ml100k: tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]) -> tuple[Path, dict[int, list[int]]]:
    from recsys.data.interactions import Interactions
    from recsys.models import create

    model = create(name).fit(Interactions.from_frame(ml100k[0], ml100k[1]))
    model.save(folder)
    (folder / "serving.json").write_text(json.dumps({"version": version}))
    lists = {u: model.recommend(u, 5).frame["item_id"].tolist() for u in USERS}
    return folder, lists


@pytest.mark.integration
def test_swap_under_load_loses_nothing_and_never_mixes(
        tmp_path: Path, ml100k: tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame],
        ml100k_dir: Path) -> None:
    first, first_lists = saved(tmp_path / "a", "popularity", "A", ml100k)
    second, second_lists = saved(tmp_path / "b", "item_knn", "B", ml100k)
    assert first_lists != second_lists
    expected = {"A": first_lists, "B": second_lists}
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "model.json").write_text("not json")
    current = tmp_path / "current"
    point(current, first)
    env = {"MOVIEREC_MODEL_DIR": str(current), "MOVIEREC_ITEMS": str(ml100k_dir / "items.parquet"),
           "MOVIEREC_AVAILABILITY": "none", "MOVIEREC_RELOAD_SECONDS": "0.5",
           "MOVIEREC_INFERENCE_LOG": str(tmp_path / "log.jsonl")}
    with bentoml_serve(SERVICE, tmp_path, env) as server:
        answers: list[tuple[int, str, list[int]]] = []
        failures: list[str] = []
        stop = threading.Event()

        def load() -> None:
            with httpx.Client(base_url=server.url, timeout=30) as client:
                n = 0
                while not stop.is_set() and n < 4000:
                    user = USERS[n % len(USERS)]
                    n += 1
                    try:
                        response = client.post("/recommend", json={"user_id": user, "k": 5})
                    except httpx.HTTPError as exc:
                        failures.append(repr(exc))
                        continue
                    if response.status_code != 200:
                        failures.append(f"{response.status_code}: {response.text[:200]}")
                        continue
                    body = response.json()
                    answers.append((user, body["model_version"],
                                    [m["item_id"] for m in body["items"]]))

        threads = [threading.Thread(target=load) for _ in range(4)]
        for thread in threads:
            thread.start()
        try:
            time.sleep(1.5)
            point(current, second)
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:  # both workers swapped: only B answers
                recent = [v for _, v, _ in answers[-40:]]
                if len(recent) == 40 and set(recent) == {"B"}:
                    break
                time.sleep(0.2)
            time.sleep(1.0)
            point(current, broken)  # a model that fails to load keeps B serving
            time.sleep(2.0)
        finally:
            stop.set()
            for thread in threads:
                thread.join(60)
        assert not failures, failures[:5]
        versions = [v for _, v, _ in answers]
        assert "A" in versions and versions[-1] == "B" and len(answers) > 100
        mixed = [(u, v, items) for u, v, items in answers if items != expected[v][u]]
        assert not mixed, mixed[:3]
        with httpx.Client(base_url=server.url, timeout=30) as client:
            for _ in range(4):  # whichever worker answers
                ready = client.get("/readyz")
                assert ready.status_code == 200
                assert ready.json()["model_version"] == "B"
                assert "not loaded" in ready.json()["reload_error"]
                assert str(tmp_path) not in ready.json()["reload_error"]  # no server paths
                assert client.get("/model").json()["version"] == "B"
            reload = client.post("/admin/reload")
            assert reload.status_code == 200 and reload.json()["version"] == "B"
            point(current, first)
            assert client.post("/admin/reload").json()["version"] == "A"


@pytest.mark.unit
def test_reload_is_refused_from_other_hosts() -> None:
    holder = EngineHolder()
    holder.reload = lambda: {"swapped": False}
    with TestClient(build_app(holder, 4096), client=("10.1.2.3", 5000)) as client:
        response = client.post("/admin/reload")
    assert response.status_code == 403 and "loopback" in response.json()["error"]
    with TestClient(build_app(holder, 4096), client=("127.0.0.1", 5000)) as client:
        assert client.post("/admin/reload").json() == {"swapped": False}
