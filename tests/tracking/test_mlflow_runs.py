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


def test_a_searched_variant_logs_its_chosen_settings_and_trial_table(
        fitted: dict[str, dict], tracking_uri: str, tmp_path: Path) -> None:
    from mlflow.tracking import MlflowClient

    from recsys.evaluation.search import TrialResult, choose_best
    from recsys.tracking.mlflow_runs import VariantResult, log_pipeline

    def trial(number: int, reg: float, score: float | None, error: str | None = None
              ) -> TrialResult:
        return TrialResult("ease", number, {"regularization": reg},
                           {"regularization": reg}, score, 0.5 + number, error)

    search = choose_best([trial(0, 100.0, 0.31), trial(1, 300.0, 0.34),
                          trial(2, 900.0, None, "MemoryError: no")])
    entry = fitted["ease"]
    tracked = log_pipeline(
        [VariantResult("ease", {"regularization": 300.0}, entry["metrics"], str(entry["dir"]),
                       search=search)],
        dataset="ml-100k", data_digest="d-search", commit=None,
        pipeline_params={"search": {"variants": {"ease": {"grid": {"regularization": [100.0]}}}}},
        example_users=[1, 2], leaderboard=pd.DataFrame([{"variant": "ease", "trials": 3}]),
        tracking_uri=tracking_uri)
    client = MlflowClient(tracking_uri)
    run = client.get_run(tracked.variants["ease"].run_id)
    assert run.data.params["search.chosen.regularization"] == "300.0"
    assert run.data.params["search.trials"] == "3"
    assert run.data.params["regularization"] == "300.0"
    assert run.data.metrics["validation_ndcg_at_10"] == pytest.approx(0.34)
    table = pd.read_csv(client.download_artifacts(run.info.run_id, "search/trials.csv",
                                                  str(tmp_path)))
    assert table["regularization"].tolist() == [100.0, 300.0, 900.0]
    assert table["chosen"].tolist() == [False, True, False]
    assert table["validation_ndcg_at_10"].tolist()[:2] == [0.31, 0.34]
    assert table["error"].fillna("").tolist() == ["", "", "MemoryError: no"]
    parent = client.get_run(tracked.parent_run_id)
    assert parent.data.params["search.variants.ease.grid.regularization"] == "[100.0]"
