"""Fixtures for serving tests: a model trained on ML-100K and a real ``bentoml serve``."""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[2]
SERVICE = "bentos.service:MovieRecommender"
START_TIMEOUT = 180.0


def fast_model_name() -> str:
    """``item_knn`` once it exists, else ``popularity``."""
    from recsys.models import model_class

    try:
        model_class("item_knn")
    except (ImportError, AttributeError):
        return "popularity"
    return "item_knn"


@pytest.fixture(scope="session")
def served_model_dir(tmp_path_factory: pytest.TempPathFactory,
                     ml100k: tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]) -> Path:
    """A model fitted on all of ML-100K, saved with serving metadata."""
    from recsys.data.interactions import Interactions
    from recsys.models import create

    ratings, items, _ = ml100k
    folder = tmp_path_factory.mktemp("served") / "model"
    model = create(fast_model_name()).fit(Interactions.from_frame(ratings, items))
    model.save(folder)
    (folder / "serving.json").write_text(json.dumps({
        "version": "7", "alias": "champion", "variant": model.name,
        "metrics": {"ndcg_at_10": 0.123}, "data_hash": "sha256:test", "run_id": "run-test",
    }))
    return folder


@dataclass
class RunningServer:
    url: str
    log_path: Path
    process: subprocess.Popen[bytes]
    output: Path

    def log_records(self) -> list[dict[str, object]]:
        if not self.log_path.is_file():
            return []
        return [json.loads(line) for line in self.log_path.read_text().splitlines() if line]

    def log_records_until(self, done: Callable[[list[dict[str, Any]]], bool],
                          timeout: float = 10.0) -> list[dict[str, Any]]:
        """The log once ``done(records)`` holds (the log is written in the background,
        within a fraction of a second), or as it is after ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        while True:
            records: list[dict[str, Any]] = self.log_records()  # type: ignore[assignment]
            if done(records) or time.monotonic() > deadline:
                return records
            time.sleep(0.1)


@contextmanager
def bentoml_serve(target: str, folder: Path, env: dict[str, str]) -> Iterator[RunningServer]:
    """Run ``bentoml serve target`` on 127.0.0.1 (free port) until ready; always stop it."""
    from bentos.process import bentoml_serve as serve

    output = folder / "server.log"
    full_env = {"BENTOML_HOME": str(folder / "bentoml"), "BENTOML_DO_NOT_TRACK": "true",
                "PYTHONUNBUFFERED": "1", **env}
    try:
        with serve(target, full_env, output, timeout=START_TIMEOUT) as (url, process):
            yield RunningServer(url, Path(env.get("MOVIEREC_INFERENCE_LOG",
                                                  folder / "log.jsonl")), process, output)
    except RuntimeError as exc:
        if "bentoml serve" not in str(exc):
            raise
        pytest.fail(str(exc))


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory, served_model_dir: Path, ml100k_dir: Path,
           streaming_dir: Path) -> Iterator[RunningServer]:
    """One ``bentoml serve`` of the real service for the whole session, with availability."""
    folder = tmp_path_factory.mktemp("serve")
    env = {
        "MOVIEREC_MODEL_DIR": str(served_model_dir),
        "MOVIEREC_ITEMS": str(ml100k_dir / "items.parquet"),
        "MOVIEREC_AVAILABILITY": str(streaming_dir),
        "MOVIEREC_INFERENCE_LOG": str(folder / "inference.jsonl"),
        "MOVIEREC_MAX_BODY_BYTES": "16384",
        # no table at start: tests/serving/test_service.py writes one and reloads
        "MOVIEREC_RECENT_HISTORIES": str(folder / "recent.parquet"),
    }
    with bentoml_serve(SERVICE, folder, env) as running:
        yield running


@pytest.fixture()
def client(server: RunningServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=30) as http:
        yield http
