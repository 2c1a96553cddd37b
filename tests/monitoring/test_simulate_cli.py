"""``movierec simulate``: a small replay writes the JSON contract and the report."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from movierec.cli import app
from recsys.monitoring.replay_span import span_count

pytestmark = pytest.mark.integration


def test_simulate_writes_the_json_contract(ml100k_dir: Path, tmp_path: Path,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    out, result_json = tmp_path / "sim.md", tmp_path / "sim.json"
    result = CliRunner().invoke(app, [
        "simulate", "--dataset", "ml-100k", "--model", "popularity", "--span-days", "28",
        "--initial-weeks", "2", "--processed-dir", str(ml100k_dir.parent), "--out", str(out),
        "--json", str(result_json), "--checks"])
    assert result.exit_code == 0, result.output
    payload = json.loads(result_json.read_text())
    assert list(payload) == ["dataset", "model", "batches", "policies"]
    assert (payload["dataset"], payload["model"]) == ("ml-100k", "popularity")
    assert list(payload["policies"]) == ["never", "every_batch", "on_drift", "on_quality"]
    assert payload["batches"] == 6  # 214 days of ML-100K in 28-day spans, 2 of them initial
    for policy in payload["policies"].values():
        assert set(policy) == {"mean_ndcg_at_10", "retrains"}
        assert 0 < policy["mean_ndcg_at_10"] < 1
    assert payload["policies"]["never"]["retrains"] == 0
    assert payload["policies"]["every_batch"]["retrains"] == payload["batches"] - 1
    assert json.loads(result.stdout.strip().splitlines()[-1]) == payload
    report = out.read_text()
    assert "| on quality drop |" in report and "Reference-like batches that would retrain" in report
    assert out.with_suffix(".png").is_file()


def test_a_long_history_is_replayed_in_wider_spans(ml100k_dir: Path, tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """ML-100K's 214 days stretched to 23 years would be 1,200 weekly batches: with no
    --span-days the replay says so and uses yearly ones; --span-days still decides."""
    monkeypatch.chdir(tmp_path)
    processed = tmp_path / "processed" / "ml-100k"
    processed.mkdir(parents=True)
    for name in ("items", "users"):
        pd.read_parquet(ml100k_dir / f"{name}.parquet").to_parquet(processed / f"{name}.parquet")
    ratings = pd.read_parquet(ml100k_dir / "ratings.parquet")
    first = ratings["timestamp"].min()
    ratings["timestamp"] = first + (ratings["timestamp"] - first) * 40
    ratings.to_parquet(processed / "ratings.parquet")
    common = ["simulate", "--dataset", "ml-100k", "--model", "popularity", "--processed-dir",
              str(processed.parent), "--out", str(tmp_path / "sim.md")]
    result = CliRunner().invoke(app, [*common, "--initial-spans", "4"])
    assert result.exit_code == 0, result.output
    assert "replaying in 365-day batches" in " ".join(result.output.split())
    assert span_count(ratings, 7) > 1000 and span_count(ratings, 365) == 24
    assert json.loads(result.stdout.strip().splitlines()[-1])["batches"] == 24 - 4
    forced = CliRunner().invoke(app, [*common, "--initial-weeks", "3", "--span-days", "730"])
    assert forced.exit_code == 0, forced.output
    assert "replaying in" not in forced.output
    assert json.loads(forced.stdout.strip().splitlines()[-1])["batches"] == 12 - 3
