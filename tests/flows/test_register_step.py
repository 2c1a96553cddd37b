"""The pipeline's register step against a real Prefect server and a real (SQLite) MLflow store."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.integration


def test_champion_from_other_data_is_refitted_not_scored_as_fitted(
    prefect_server: None, small_tables: dict[str, Any], mlflow_store: Path, helpers: Any
) -> None:
    """Grown data, a new split: the same EASE configuration must score the same for the
    champion as for the challenger. The champion as fitted on split ``a`` has most of split
    ``b``'s test ratings in its training data and would score a fraction of it."""
    from flows.stages.register import register_task

    uri, name = helpers.store_uri(mlflow_store), "register-step-refit-ml-100k"
    items = small_tables["items"]
    with helpers.InFolder(mlflow_store):
        old = helpers.fit_and_log("ease", {}, small_tables["a"], items, mlflow_store, uri)
        first = helpers.register_logged(old, "split-a", uri, name)
        assert first.promoted
        new = helpers.fit_and_log("ease", {}, small_tables["b"], items, mlflow_store, uri)
        decision = register_task(
            new["best"], new["tracked"], "split-b", "d",
            {"metric": "ndcg_at_10", "min_improvement": 0.01, "model_name": "register-step-refit"},
            small_tables["b"], items, 10, uri, "ml-100k",
        )
    challenger = new["best"]["metrics"]["ndcg_at_10"]
    assert decision["champion_version"] == "1" and decision["version"] == "2"
    assert decision["champion_score"] == pytest.approx(challenger, abs=1e-3)
    assert not decision["promoted"] and decision["champion_after"] == "1"
    assert "configuration re-fitted on this run's training data" in decision["reason"]


def test_each_dataset_has_its_own_champion(
    prefect_server: None, small_tables: dict[str, Any], mlflow_store: Path, helpers: Any
) -> None:
    """A run on another dataset never compares with, replaces or is served as the ML-100K
    champion: it registers under its own name and starts with no champion."""
    from flows.stages.register import register_task
    from recsys.tracking.registry import load_champion

    uri, base = helpers.store_uri(mlflow_store), "per-dataset"
    items = small_tables["items"]
    settings = {"metric": "ndcg_at_10", "min_improvement": 0.0, "model_name": base}
    with helpers.InFolder(mlflow_store):
        ease = helpers.fit_and_log("ease", {}, small_tables["a"], items, mlflow_store, uri)
        first = register_task(ease["best"], ease["tracked"], "split-a", "d", settings,
                              small_tables["a"], items, 10, uri, "ml-100k")
        other = helpers.fit_and_log("popularity", {}, small_tables["b"], items, mlflow_store, uri)
        second = register_task(other["best"], other["tracked"], "split-b", "d2", settings,
                               small_tables["b"], items, 10, uri, "ml-latest-small")
        assert first["model_name"] == "per-dataset-ml-100k" and first["promoted"]
        assert second["model_name"] == "per-dataset-ml-latest-small"
        assert second["promoted"] and second["champion_version"] is None
        assert second["reason"] == "promoted: no champion yet"
        assert load_champion(base, tracking_uri=uri, dataset="ml-100k").variant == "ease"
        assert load_champion(base, tracking_uri=uri,
                             dataset="ml-latest-small").variant == "popularity"


def test_better_challenger_is_promoted_with_its_bootstrap_interval(
    prefect_server: None, small_tables: dict[str, Any], mlflow_store: Path, helpers: Any
) -> None:
    """The pipeline's comparison: champion re-fitted on the same split, per-user NDCG of
    both, paired bootstrap; a clearly better model is promoted with its interval recorded."""
    from flows.stages.register import register_task

    uri, base = helpers.store_uri(mlflow_store), "bootstrap-step"
    items = small_tables["items"]
    settings = {"metric": "ndcg_at_10", "min_improvement": 0.0, "model_name": base}
    with helpers.InFolder(mlflow_store):
        weak = helpers.fit_and_log("popularity", {}, small_tables["b"], items, mlflow_store, uri)
        register_task(weak["best"], weak["tracked"], "split-b", "d", settings,
                      small_tables["b"], items, 10, uri, "ml-100k")
        strong = helpers.fit_and_log("ease", {}, small_tables["b"], items, mlflow_store, uri)
        decision = register_task(strong["best"], strong["tracked"], "split-b", "d", settings,
                                 small_tables["b"], items, 10, uri, "ml-100k")
    assert decision["promoted"] and decision["version"] == "2"
    low, high = (float(decision["tags"][f"promotion.difference_{s}"]) for s in ("low", "high"))
    assert 0 < low < high
    assert decision["challenger_score"] - decision["champion_score"] == pytest.approx(
        (low + high) / 2, abs=0.02)
    assert decision["challenger_score"] == pytest.approx(
        strong["best"]["metrics"]["ndcg_at_10"], abs=1e-9)
