"""A promotion or rollback in a real (SQLite) MLflow registry reaches a running engine."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest

pytestmark = pytest.mark.integration

MODEL = "movie-recommender-reload-test"


@pytest.fixture()
def registry(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
             ml100k: tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]) -> Iterator[str]:
    """Two registered versions: popularity (v1), then ease (v2, champion)."""
    from recsys.data.interactions import Interactions
    from recsys.models import create
    from recsys.tracking.mlflow_runs import VariantResult, log_pipeline
    from recsys.tracking.registry import register_best

    ratings, items, _ = ml100k
    subset = ratings[ratings["user_id"] <= 200]
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    monkeypatch.chdir(tmp_path)  # artefacts go to ./mlartifacts
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    for score, name in ((0.1, "popularity"), (0.2, "ease")):
        folder = create(name).fit(Interactions.from_frame(subset, items)).save(tmp_path / name)
        metrics = {"ndcg_at_10": score}
        tracked = log_pipeline(
            [VariantResult(name, {}, metrics, str(folder))], dataset="ml-100k",
            data_digest="d1", commit=None, pipeline_params={"k": 10}, example_users=[1, 2],
            leaderboard=pd.DataFrame([{"variant": name, **metrics}]), tracking_uri=uri)
        variant = tracked.variants[name]
        register_best(variant.model_uri, run_id=variant.run_id, variant=name, metrics=metrics,
                      evaluation_key="e", data_hash="d1", model_dir=folder, dataset="ml-100k",
                      tracking_uri=uri, model_name=MODEL)
    yield uri
    for name in ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI"):
        os.environ.pop(name, None)


def test_promote_and_rollback_reach_the_engine(
        registry: str, ml100k: tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]) -> None:
    from bentos.model_source import load_registry_version
    from bentos.reload import Reloader
    from recsys.serving.config import ServeConfig
    from recsys.serving.engine import RecommendationEngine
    from recsys.tracking.manual import promote, rollback

    config = ServeConfig(model_name=MODEL)
    engine = RecommendationEngine(load_registry_version(MODEL, alias="champion"), ml100k[1])
    reloader = Reloader(engine, config)
    assert engine.model.version == "2" and engine.model.variant == "ease"
    assert reloader.check() == {"swapped": False, "version": "2", "error": None}
    # v1 scores worse than the champion: a manual promotion needs --force and a reason
    promote("1", MODEL, tracking_uri=registry, force=True, reason="reload test")
    result = reloader.check()
    assert result["swapped"] and engine.model.version == "1"
    assert engine.model_card()["variant"] == "popularity"
    assert engine.recommend(1, k=3)["model_version"] == "1"
    rollback(MODEL, tracking_uri=registry)
    assert reloader.check()["version"] == "2" and engine.model.variant == "ease"
