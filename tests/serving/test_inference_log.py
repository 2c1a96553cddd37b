"""The inference log: written in the background, nothing lost on close, capped by size,
refused bodies truncated, read streaming past a torn last line."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from bentos.api import EngineHolder, build_app
from recsys.serving.inference_log import (
    MAX_LOGGED_REQUEST_CHARS,
    InferenceLog,
    iter_log,
    log_files,
    log_record,
)

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]


def record(n: int) -> dict[str, object]:
    return log_record("recommend", user_id=n, items=list(range(10)), scores=[0.5] * 10,
                      latency_ms=0.2, model_version="1", cold_start=False,
                      request={"user_id": n, "k": 10})


def test_nothing_is_lost_on_close(tmp_path: Path) -> None:
    log = InferenceLog(tmp_path / "log.jsonl", flush_seconds=60)
    for n in range(1000):
        log.append(record(n))
    log.close()
    assert [r["user_id"] for r in iter_log(tmp_path / "log.jsonl")] == list(range(1000))


def test_the_log_is_capped_and_rotated(tmp_path: Path) -> None:
    path = tmp_path / "log.jsonl"
    log = InferenceLog(path, max_bytes=20_000, backups=2, max_pending=10)
    for n in range(2000):
        log.append(record(n))
        if n % 50 == 0:
            log.flush()
    log.close()
    files = log_files(path)
    assert {f.name for f in files} <= {"log.jsonl.2", "log.jsonl.1", "log.jsonl"}
    assert len(files) >= 2 and not path.with_name("log.jsonl.3").exists()
    assert sum(f.stat().st_size for f in files) < 3 * (20_000 + 60 * 300)
    kept = [r["user_id"] for r in iter_log(path)]
    assert kept == sorted(kept) and kept[-1] == 1999  # the newest, in order


def test_processes_sharing_a_log_lose_no_line_across_rotations(tmp_path: Path) -> None:
    path = tmp_path / "log.jsonl"
    writer = (
        "import sys\n"
        "from recsys.serving.inference_log import InferenceLog\n"
        f"log = InferenceLog({str(path)!r}, max_bytes=50_000, backups=100, max_pending=20)\n"
        "for n in range(1500):\n"
        "    log.append({'status': 200, 'who': sys.argv[1], 'n': n, 'pad': 'x' * 100})\n"
        "    if n % 10 == 9:\n"
        "        log.flush()\n"
        "log.close()\n"
    )
    # flushing every 10 records keeps each write to a few KB: left to its thread, a writer
    # may queue all 1,500 records (210 KB) into one write, and three such writes rotate only
    # twice; in small writes the 675 KB rotate a dozen times, interleaved across processes
    procs = [subprocess.Popen([sys.executable, "-c", writer, str(w)], cwd=ROOT) for w in range(3)]
    assert all(p.wait(120) == 0 for p in procs)
    seen = [(r["who"], r["n"]) for r in iter_log(path)]
    assert len(log_files(path)) > 2 and len(seen) == len(set(seen)) == 4500


def test_a_torn_last_line_is_skipped_but_a_broken_middle_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "log.jsonl"
    path.write_text(json.dumps(record(1)) + "\n" + json.dumps(record(2)) + "\n" + '{"ts": "20')
    assert [r["user_id"] for r in iter_log(path)] == [1, 2]
    path.write_text(json.dumps(record(1)) + "\n{broken\n" + json.dumps(record(2)) + "\n")
    with pytest.raises(ValueError, match="line 2"):
        list(iter_log(path))


def test_refused_bodies_are_logged_truncated(tmp_path: Path) -> None:
    """A 50 KB body must not become a 50 KB log line."""
    log = InferenceLog(tmp_path / "log.jsonl")

    class Holder(EngineHolder):
        def log(self) -> InferenceLog:
            return log

    holder = Holder()
    with TestClient(build_app(holder, 64 * 1024)) as client:
        big = b'{"user_id": 1, "platforms": ["' + b"x" * 50_000 + b'"]}'
        response = client.post("/recommend", content=big,
                               headers={"content-type": "application/json"})
        assert response.status_code == 400 and "platforms.0" in response.json()["error"]
        streamed = client.post("/recommend", content=iter([b" " * 40_000] * 3),
                               headers={"content-type": "application/json"})
        assert streamed.status_code == 413
    log.close()
    records = list(iter_log(tmp_path / "log.jsonl"))
    assert records and all(len(json.dumps(r)) < MAX_LOGGED_REQUEST_CHARS + 1_000 for r in records)


def test_monitoring_reads_the_log_streaming_past_a_torn_line(tmp_path: Path) -> None:
    from recsys.monitoring.served_log import read_inference_log

    path = tmp_path / "log.jsonl"
    refused = log_record("recommend", user_id=None, items=[], scores=[], latency_ms=0.1,
                         model_version=None, cold_start=None, status=400, request="x" * 900)
    path.with_name("log.jsonl.1").write_text(json.dumps(record(1)) + "\n")
    path.write_text(json.dumps(refused) + "\n" + json.dumps(record(2)) + "\n" + '{"ts": "2026-')
    served = read_inference_log(path)
    assert served["user_id"].tolist() == [1, 2]
