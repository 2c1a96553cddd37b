"""Pipeline logging against a real (SQLite-backed) MLflow store."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pandas as pd
import pytest

pytestmark = pytest.mark.integration


def test_log_pipeline_leaves_no_temporary_files(fitted: dict[str, dict], tracking_uri: str,
                                                tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    from recsys.tracking.mlflow_runs import VariantResult, log_pipeline

    scratch = tmp_path / "tmp"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    entry = fitted["popularity"]
    curve = [{"k": k, "precision": 0.3 / k, "recall": 0.05 * k} for k in (1, 5, 10)]
    log_pipeline(
        [VariantResult("popularity", {}, entry["metrics"], str(entry["dir"]), curve)],
        dataset="ml-100k", data_digest="d-tmp", commit=None, pipeline_params={"k": 10},
        example_users=[1, 2], leaderboard=pd.DataFrame([{"variant": "popularity"}]),
        tracking_uri=tracking_uri,
    )
    left = sorted(str(p.relative_to(scratch)) for p in scratch.rglob("*.png"))
    assert left == [], left
