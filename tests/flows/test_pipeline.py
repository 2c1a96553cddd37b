"""The ``pipeline`` flow end to end: registry, caching, validation failure, Dask runner."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

pytestmark = pytest.mark.integration


def test_first_run_registers_the_best_as_champion(first_run: dict[str, Any], project: Path,
                                                  helpers: Any) -> None:
    from recsys.tracking.registry import list_versions, load_champion

    board = pd.DataFrame(first_run["leaderboard"])
    assert set(board["variant"]) == set(helpers.MODELS)
    assert board.iloc[0]["variant"] == first_run["best"] == "ease"
    assert board["ndcg_at_10"].is_monotonic_decreasing
    decision = first_run["decision"]
    assert decision["promoted"] and decision["champion_after"] == decision["version"] == "1"
    uri = first_run["tracking_uri"]
    champion = load_champion(tracking_uri=uri)
    assert champion.variant == "ease" and champion.version == "1"
    assert [r["aliases"] for r in list_versions(tracking_uri=uri)] == [["challenger", "champion"]]
    for report in ("evaluation", "metrics"):
        assert (project / first_run["reports"][report]).is_file()
    assert first_run["reports"]["metrics"] == "metrics.json"  # the run params.yaml describes


def test_a_run_of_some_variants_leaves_the_tracked_metrics_alone(
    first_run: dict[str, Any], project: Path, mirror: Path, tmp_path: Path, helpers: Any
) -> None:
    """``metrics.json`` (tracked by DVC) holds the figures of the run ``params.yaml``
    describes; ``movierec run --models popularity`` writes beside its leaderboard."""
    tracked = (project / "metrics.json").read_text()
    state = helpers.run_pipeline(project, mirror, models=["popularity"],
                                 tracking_uri=f"sqlite:///{tmp_path / 'mlflow.db'}")
    assert state.is_completed(), state.message
    summary = state.result()
    assert summary["reports"]["metrics"] == "reports/evaluation/ml-100k/metrics.json"
    assert list(json.loads((project / summary["reports"]["metrics"]).read_text())["variants"]) == [
        "popularity"]
    assert (project / "metrics.json").read_text() == tracked


def test_metrics_path_is_the_tracked_file_only_for_the_described_run() -> None:
    from flows.pipeline import metrics_path
    from recsys.params import parse

    params = parse({"data": {"dataset": "ml-100k"}, "train": {"models": ["ease", "popularity"]}})
    here = "reports/evaluation/ml-100k"
    assert metrics_path(params, "ml-100k", ["popularity", "ease"], here, None) == "metrics.json"
    assert metrics_path(params, "ml-100k", ["ease"], here, None) == f"{here}/metrics.json"
    assert metrics_path(params, "ml-1m", ["ease", "popularity"], "r", None) == "r/metrics.json"
    assert metrics_path(params, "ml-100k", ["ease", "popularity"], here, "batch.csv") == (
        f"{here}/metrics.json")


def test_second_run_reuses_cached_steps_and_keeps_champion(
    first_run: dict[str, Any], project: Path, mirror: Path, helpers: Any
) -> None:
    model_file = project / "models" / "ml-100k" / "ease" / "arrays.npz"
    stamp = model_file.stat().st_mtime_ns
    cached_before = helpers.cached_task_runs()
    state = helpers.run_pipeline(project, mirror)
    assert state.is_completed(), state.message
    again = state.result()
    # prepare, validate, split, two trainings and MLflow logging: all reused (the drift
    # check runs again: it depends on the cooldown state and the time)
    assert helpers.cached_task_runs() - cached_before >= 6
    assert model_file.stat().st_mtime_ns == stamp
    assert again["mlflow_run_id"] == first_run["mlflow_run_id"]
    assert again["decision"]["reused"] and not again["decision"]["promoted"]
    assert again["decision"]["champion_after"] == first_run["decision"]["champion_after"]


def test_failed_validation_stops_and_registers_nothing(
    first_run: dict[str, Any], project: Path, mirror: Path, tmp_path: Path, helpers: Any
) -> None:
    ratings = pd.read_parquet(project / "data" / "processed" / "ml-100k" / "ratings.parquet")
    corrupt = ratings.copy()
    corrupt.loc[:49, "rating"] = 9.0          # off the 1-5 scale
    corrupt.loc[50:59, "user_id"] = -1        # impossible ids
    bad = tmp_path / "ratings.parquet"
    corrupt.to_parquet(bad, index=False)
    store = tmp_path / "mlflow.db"
    state = helpers.run_pipeline(project, mirror, ratings_path=str(bad), tracking_uri=f"sqlite:///{store}")
    assert state.is_failed()
    assert "FAILED" in state.message and "rating" in state.message
    assert not store.exists(), "nothing may touch the registry after a failed validation"


def test_extra_ratings_are_validated_before_anything_trains(
    first_run: dict[str, Any], project: Path, mirror: Path, tmp_path: Path, helpers: Any
) -> None:
    """``--extra-ratings`` joins the training data only after passing the batch checks:
    off-scale ratings (and a file that is not a table) stop the run before the registry."""
    ratings = pd.read_parquet(project / "data" / "processed" / "ml-100k" / "ratings.parquet")
    batch = ratings.tail(100).copy()
    batch["user_id"] += 5000
    batch.loc[batch.index[:5], "rating"] = 9.0
    bad = tmp_path / "batch.csv"
    batch.to_csv(bad, index=False)
    garbage = tmp_path / "garbage.csv"
    garbage.write_bytes(bytes(range(256)) * 8)
    for extra, expected in ((bad, "rating"), (garbage, "garbage.csv")):
        store = tmp_path / f"mlflow-{extra.stem}.db"
        state = helpers.run_pipeline(project, mirror, extra_ratings=str(extra),
                                     tracking_uri=f"sqlite:///{store}")
        assert state.is_failed()
        assert expected in state.message, state.message
        assert not store.exists(), "nothing may touch the registry after a failed validation"


def test_dask_runner_trains_variants_in_parallel(
    prefect_server: None, ml100k: tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame], tmp_path: Path,
    helpers: Any,
) -> None:
    from flows.runtime import task_runner
    from flows.stages.train import SplitPaths, train
    from recsys.evaluation.splits import split_ratings
    from recsys.params import parse

    ratings, items, _ = ml100k
    split = split_ratings(ratings[ratings["user_id"] <= 200], seed=3)
    paths = {"train": str(tmp_path / "train.parquet"), "test": str(tmp_path / "test.parquet")}
    split.train.to_parquet(paths["train"], index=False)
    split.test.to_parquet(paths["test"], index=False)
    items.to_parquet(tmp_path / "items.parquet", index=False)
    with helpers.InFolder(tmp_path):
        out = train.with_options(task_runner=task_runner("dask", workers=2))(
            parse({"train": {"models": helpers.MODELS}}).train, SplitPaths(**paths),
            str(tmp_path / "items.parquet"), str(tmp_path / "models"), 10, 3,
        )
    assert out.failed == {}
    assert sorted(r.variant for r in out.results) == sorted(helpers.MODELS)
    for result in out.results:
        assert (Path(result.model_dir) / "model.json").is_file()
        assert 0.0 < result.metrics["ndcg_at_10"] <= 1.0
