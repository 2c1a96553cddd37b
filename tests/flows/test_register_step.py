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
    from flows.steps import register_task

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
