"""The served heap is frozen out of the collector's full passes, at start and after swaps,
and a swapped-out model is still freed.

Before, every full collection of a serving worker walked its ~400,000 long-lived objects
(a 100-300 ms stop on two cores, up to a second on a busy machine): the whole p99 of
``POST /recommend`` (see ``benchmarks/results/serving.md``).
"""

from __future__ import annotations

import gc
import json
import os
import time
import weakref
from collections.abc import Iterator
from pathlib import Path

import httpx
import pandas as pd
import pytest

from bentos.model_source import model_from_folder
from bentos.reload import Reloader
from recsys.serving.config import ServeConfig
from recsys.serving.engine import RecommendationEngine
from recsys.serving.heap import settle

from .conftest import SERVICE, bentoml_serve

PROBE_DIR = Path(__file__).parent / "gc_probe"


@pytest.fixture()
def thawed() -> Iterator[None]:
    """The test process's heap is unfrozen again afterwards."""
    yield
    gc.unfreeze()


def collected_by_full_pass(obj: object) -> bool:
    """Whether a full collection would walk ``obj`` (frozen objects are in no generation)."""
    return any(o is obj for o in gc.get_objects())


@pytest.mark.unit
def test_settle_freezes_what_is_alive(thawed: None) -> None:
    alive = {"a": [1, 2, 3]}
    frozen = settle()
    assert frozen > 0
    assert not collected_by_full_pass(alive)
    young = {"b": [4]}
    assert collected_by_full_pass(young)
    # a full collection now walks only what was made since
    assert len(gc.get_objects()) < frozen


@pytest.mark.unit
def test_a_swap_freezes_the_new_model_and_frees_the_old(
        thawed: None, tmp_path: Path, served_model_dir: Path,
        ml100k: tuple[pd.DataFrame, ...]) -> None:
    current = tmp_path / "current"
    current.symlink_to(served_model_dir)
    engine = RecommendationEngine(model_from_folder(current), ml100k[1])
    reloader = Reloader(engine, ServeConfig(), current)
    settle()
    old = weakref.ref(engine.served.lists)
    old_model = weakref.ref(engine.recommender)
    assert not collected_by_full_pass(engine.served.lists)

    # a deploy re-points the folder at a copy of the model (a new identity)
    copy = tmp_path / "copy"
    copy.mkdir()
    for part in served_model_dir.iterdir():
        (copy / part.name).write_bytes(part.read_bytes())
    current.unlink()
    current.symlink_to(copy)
    assert reloader.check()["swapped"]

    # the new model's state is out of the full passes too ...
    assert not collected_by_full_pass(engine.served.lists)
    assert not collected_by_full_pass(engine.served.explainer)
    # ... and the old one is gone by reference counting alone, frozen as it was
    assert gc.isenabled()
    assert old() is None
    assert old_model() is None


@pytest.mark.unit
def test_the_service_freezes_its_heap_once_loaded(
        thawed: None, monkeypatch: pytest.MonkeyPatch, served_model_dir: Path,
        ml100k_dir: Path, tmp_path: Path) -> None:
    """``MovieRecommender``'s start-up (what each BentoML worker runs) settles the heap."""
    import bentos.service as service

    monkeypatch.setenv("MOVIEREC_MODEL_DIR", str(served_model_dir))
    monkeypatch.setenv("MOVIEREC_ITEMS", str(ml100k_dir / "items.parquet"))
    monkeypatch.setenv("MOVIEREC_AVAILABILITY", "none")
    monkeypatch.setenv("MOVIEREC_INFERENCE_LOG", str(tmp_path / "log.jsonl"))
    monkeypatch.setenv("MOVIEREC_RELOAD_SECONDS", "0")
    gc.unfreeze()
    instance = service.MovieRecommender.inner()  # type: ignore[attr-defined]
    try:
        assert gc.get_freeze_count() > 0
        assert not collected_by_full_pass(instance.engine.served.lists)
        assert not collected_by_full_pass(service.api)
    finally:
        instance.close()
        service.holder.engine = None
        service.holder.reload = None


@pytest.mark.integration
def test_served_workers_walk_only_young_objects_under_load(
        tmp_path: Path, served_model_dir: Path, ml100k_dir: Path) -> None:
    """In a real ``bentoml serve``, each worker's long-lived heap is frozen once loaded and
    stays out of full collections while it answers requests."""
    probe = tmp_path / "gc"
    env = {"MOVIEREC_MODEL_DIR": str(served_model_dir),
           "MOVIEREC_ITEMS": str(ml100k_dir / "items.parquet"),
           "MOVIEREC_AVAILABILITY": "none",
           "MOVIEREC_INFERENCE_LOG": str(tmp_path / "log.jsonl"),
           "MOVIEREC_GC_PROBE": str(probe),
           "PYTHONPATH": os.pathsep.join(
               [str(PROBE_DIR), *filter(None, [os.environ.get("PYTHONPATH")])])}
    with bentoml_serve(SERVICE, tmp_path, env) as server, \
            httpx.Client(base_url=server.url, timeout=30) as http:
        for n in range(600):
            assert http.post("/recommend", json={"user_id": n % 900 + 1, "k": 10}
                             ).status_code == 200
        (tmp_path / "gc.go").touch()
        deadline = time.monotonic() + 20
        while True:
            reports = [json.loads(p.read_text()) for p in tmp_path.glob("gc.[0-9]*")
                       if p.suffix != ".tmp"]
            workers = [r for r in reports if "worker" in r["argv"]]
            if len(workers) >= (os.cpu_count() or 1) or time.monotonic() > deadline:
                break
            time.sleep(0.2)
    assert len(workers) == (os.cpu_count() or 1)
    for worker in workers:
        # the framework and the model: hundreds of thousands of objects, frozen ...
        assert worker["frozen"] > 100_000, worker
        # ... so that a full collection walks what the requests left, a few percent of it
        assert worker["walked"] < worker["frozen"] // 10, worker
