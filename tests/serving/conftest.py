"""Fixtures for serving tests: a model trained on ML-100K and a real ``bentoml serve``."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[2]
SERVICE = "bentos.service:MovieRecommender"
START_TIMEOUT = 180.0


_OWN_BENTOML_HOME: Path | None = None


def pytest_configure(config: pytest.Config) -> None:
    """Keep BentoML's store out of ~/bentoml: a temp BENTOML_HOME before bentoml is used."""
    global _OWN_BENTOML_HOME
    if "BENTOML_HOME" not in os.environ:
        _OWN_BENTOML_HOME = Path(tempfile.mkdtemp(prefix="movierec-bentoml-"))
        os.environ["BENTOML_HOME"] = str(_OWN_BENTOML_HOME)


def pytest_unconfigure(config: pytest.Config) -> None:
    if _OWN_BENTOML_HOME is not None:
        shutil.rmtree(_OWN_BENTOML_HOME, ignore_errors=True)


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


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


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


@contextmanager
def bentoml_serve(target: str, folder: Path, env: dict[str, str]) -> Iterator[RunningServer]:
    """Run ``bentoml serve target`` on 127.0.0.1 (free port) until ready; always stop it."""
    port = free_port()
    output = folder / "server.log"
    full_env = {**os.environ, "BENTOML_HOME": str(folder / "bentoml"),
                "BENTOML_DO_NOT_TRACK": "true", "PYTHONUNBUFFERED": "1", **env}
    with output.open("wb") as sink:
        process = subprocess.Popen(
            [sys.executable, "-m", "bentoml", "serve", target, "--host", "127.0.0.1",
             "--port", str(port)],
            cwd=ROOT, env=full_env, stdout=sink, stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group, so the workers die with it
        )
    server = RunningServer(f"http://127.0.0.1:{port}",
                           Path(env.get("MOVIEREC_INFERENCE_LOG", folder / "log.jsonl")),
                           process, output)
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            if process.poll() is not None:
                pytest.fail(f"bentoml serve exited ({process.returncode}):\n"
                            f"{output.read_text()[-3000:]}")
            try:
                if httpx.get(f"{server.url}/readyz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"bentoml serve not ready in {START_TIMEOUT}s:\n"
                            f"{output.read_text()[-3000:]}")
            time.sleep(0.5)
        yield server
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(10)


@pytest.fixture(scope="session")
def streaming_dir(mirror: Path) -> Path:
    folder = mirror / "streaming"
    if not (folder / "movies-on-streaming-platforms").is_dir():
        pytest.skip(f"no streaming tables at {folder}")
    return folder


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
    }
    with bentoml_serve(SERVICE, folder, env) as running:
        yield running


@pytest.fixture()
def client(server: RunningServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=30) as http:
        yield http
