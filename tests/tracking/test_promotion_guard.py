"""Promotion guard: a challenger that wins on NDCG@10 but gives up coverage or
personalisation stays challenger, and the registry records why."""

from __future__ import annotations

from typing import Any

import pytest

pytestmark = pytest.mark.integration


def _register(name: str, metrics: dict[str, float], fitted: dict[str, dict], uri: str,
              model_name: str, **guard: float) -> Any:
    import pandas as pd

    from recsys.tracking.mlflow_runs import VariantResult, log_pipeline
    from recsys.tracking.registry import register_best

    entry = fitted[name]
    tracked = log_pipeline([VariantResult(name, {}, metrics, str(entry["dir"]))],
                           dataset="ml-100k", data_digest="d1", commit=None,
                           pipeline_params={"k": 10}, example_users=[1, 2],
                           leaderboard=pd.DataFrame([{"variant": name, **metrics}]),
                           tracking_uri=uri)
    variant = tracked.variants[name]
    return register_best(variant.model_uri, run_id=variant.run_id, variant=name,
                         metrics=metrics, evaluation_key="eval-1", data_hash="d1",
                         model_dir=entry["dir"], dataset="ml-100k", tracking_uri=uri,
                         model_name=model_name, **guard)


def test_guard_reasons_are_relative_drops() -> None:
    from recsys.tracking.promotion_rule import guard_reasons

    limits = {"max_coverage_drop": 0.25, "max_personalisation_drop": 0.1}
    champion = {"coverage": 0.4, "personalisation": 0.9}
    assert guard_reasons({"coverage": 0.31, "personalisation": 0.82}, champion, limits) == []
    reasons = guard_reasons({"coverage": 0.2, "personalisation": 0.5}, champion, limits)
    assert len(reasons) == 2 and reasons[0].startswith("coverage 0.2000 is 50% below")
    assert guard_reasons({"coverage": 0.1}, {}, limits) == []  # nothing to compare with


def test_a_winner_that_loses_coverage_stays_challenger(
    fitted: dict[str, dict], tracking_uri: str, model_name: str
) -> None:
    from mlflow.tracking import MlflowClient

    ease = dict(fitted["ease"]["metrics"])
    first = _register("ease", ease, fitted, tracking_uri, model_name)
    assert first.promoted
    pop = dict(fitted["popularity"]["metrics"])
    assert pop["coverage"] < 0.5 * ease["coverage"]
    pop["ndcg_at_10"] = ease["ndcg_at_10"] + 0.05  # wins on the metric...
    second = _register("popularity", pop, fitted, tracking_uri, model_name)
    assert not second.promoted  # ...but shows a fraction of the catalogue
    assert "wins on ndcg_at_10 but coverage" in second.reason
    tags = MlflowClient(tracking_uri, tracking_uri).get_model_version(
        model_name, second.version).tags
    assert tags["promotion.decision"] == "kept"
    assert tags["promotion.guard"].startswith("coverage")
