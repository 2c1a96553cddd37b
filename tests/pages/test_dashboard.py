"""``movierec report`` on absent and corrupt inputs: "nothing yet" sections, or a clear error."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from movierec.cli import app
from recsys.reporting.drift_log import read_drift_decisions
from recsys.reporting.serving import read_serving_health

pytestmark = pytest.mark.unit


@pytest.fixture(autouse=True)
def _no_tracking_server(monkeypatch: pytest.MonkeyPatch) -> None:
    """These tests read each project's own store, whatever store an earlier test (e.g. a
    team-mode run in this process) left in the environment."""
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.delenv("MLFLOW_REGISTRY_URI", raising=False)

runner = CliRunner()


def report(root: Path, *args: str) -> tuple[int, str]:
    result = runner.invoke(app, ["report", "--root", str(root), *args])
    return result.exit_code, " ".join(result.output.split())


def test_empty_project_says_nothing_yet_and_creates_no_store(tmp_path: Path) -> None:
    code, out = report(tmp_path)
    assert code == 0, out
    page = (tmp_path / "reports" / "index.html").read_text()
    for words in ("No pipeline runs yet", "No registered versions", "No validation results yet",
                  "No pipeline run records yet", "No drift check yet", "No inference log",
                  "mlflow ui --backend-store-uri", "evidently ui --workspace",
                  "prefect server start"):
        assert words in page, words
    assert not (tmp_path / "mlflow.db").exists()  # reading never creates the store
    assert "http://" not in page and "https://" not in page  # nothing fetched from outside


def test_an_empty_store_file_is_read_as_no_runs_and_left_empty(tmp_path: Path) -> None:
    """An empty mlflow.db has no tables: opening it would create them (a read that writes)."""
    (tmp_path / "mlflow.db").touch()
    code, out = report(tmp_path)
    assert code == 0, out
    assert "No pipeline runs yet" in (tmp_path / "reports" / "index.html").read_text()
    assert (tmp_path / "mlflow.db").stat().st_size == 0


def test_out_option_writes_elsewhere(tmp_path: Path) -> None:
    code, out = report(tmp_path, "--out", str(tmp_path / "site"))
    assert code == 0, out
    assert (tmp_path / "site" / "index.html").is_file()
    assert not (tmp_path / "reports").exists()


@pytest.mark.parametrize(("relative", "content", "words"), [
    ("reports/drift/decisions.jsonl",
     '{"drift_detected": false, "retrain": false, "checked_at": "2026-01-01T00:00:00"}\n{oops\n',
     "decisions.jsonl, line 2: not valid JSON"),
    ("reports/drift/decisions.jsonl", '{"drift_share": 0.1}\n', "not a drift decision"),
    ("data/inference/log.jsonl", '{"endpoint": "recommend", "ts": "yesterday"}\n',
     "is not an ISO timestamp"),
    ("data/inference/log.jsonl", "[1, 2]\n", "not an inference-log record"),
    ("reports/runs/20260101T000000Z-ml-100k.json", '{"finished_at": "2026-01-01T00:00:00", '
     '"shilling": {"n_users": 5}}', "shilling report incomplete"),
    ("reports/data-quality/results/x.json", "\x00\x01binary", "not valid JSON"),
    ("reports/data-quality/results/x.json", '{"checked_at": "2026-01-01", "checks": [{}]}',
     "a check lacks 'expectation'"),
])
def test_corrupt_input_fails_closed_naming_the_file(tmp_path: Path, relative: str, content: str,
                                                    words: str) -> None:
    (tmp_path / relative).parent.mkdir(parents=True, exist_ok=True)
    (tmp_path / relative).write_text(content)
    code, out = report(tmp_path)
    assert code == 1
    assert "dashboard not built" in out and words in out, out
    assert not (tmp_path / "reports" / "index.html").exists()


def test_corrupt_mlflow_store_fails_closed(tmp_path: Path) -> None:
    (tmp_path / "mlflow.db").write_bytes(b"this is not an SQLite database" * 100)
    code, out = report(tmp_path)
    assert code == 1 and "the MLflow store cannot be read" in out, out


def test_serving_health_counts_errors_cold_starts_and_latency(tmp_path: Path) -> None:
    log = tmp_path / "log.jsonl"
    lines = [{"ts": f"2026-01-01T00:00:0{i}+00:00", "endpoint": "recommend", "items": [1, 2, 3],
              "latency_ms": float(i + 1), "status": 200, "cold_start": i == 0,
              "model_version": "3"} for i in range(4)]
    lines.append({"ts": "2026-01-01T00:00:09+00:00", "endpoint": "recommend", "items": [],
                  "latency_ms": 100.0, "status": 400, "cold_start": None, "error": "bad"})
    log.write_text("".join(json.dumps(line) + "\n" for line in lines))
    health = read_serving_health(log)
    assert health is not None
    assert health.requests == 5 and health.error_share == pytest.approx(0.2)
    assert health.cold_start_share == pytest.approx(0.25)
    assert health.latency_ms["p50"] == pytest.approx(3.0)
    assert health.distinct_items == 3 and health.mean_list_length == pytest.approx(3.0)
    assert health.model_versions == {"3": 4}


def test_drift_reports_resolve_against_the_project(tmp_path: Path) -> None:
    path = tmp_path / "decisions.jsonl"
    path.write_text(json.dumps({"drift_detected": True, "retrain": True, "drift_share": 0.5,
                                "report": "reports/drift/a.html",
                                "checked_at": "2026-01-02T00:00:00+00:00"}) + "\n")
    (record,) = read_drift_decisions(path, tmp_path)
    assert record.report == tmp_path / "reports/drift/a.html" and record.retrain
