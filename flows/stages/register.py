"""Register: track the run in MLflow, register the best variant, promote it if it wins."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict
from pathlib import Path
from typing import Any

import pandas as pd
from prefect import flow, get_run_logger, task
from prefect.cache_policies import NO_CACHE

from flows.caching import content_key
from flows.stages import IO_RETRIES, IO_RETRY_DELAY
from flows.stages.evaluate import Board
from flows.stages.train import SplitPaths, TrainedVariant
from recsys.evaluation.evaluate import refit_and_evaluate
from recsys.evaluation.paired import compare_models, per_user_metric
from recsys.models import load_model
from recsys.params import RegisterConfig
from recsys.tracking.mlflow_runs import (
    VariantResult,
    digest_of,
    log_pipeline,
    redact_uri,
    run_exists,
)
from recsys.tracking.promotion_rule import Comparison
from recsys.tracking.registry import register_best, registered_name


@task(cache_key_fn=content_key, persist_result=True, retries=IO_RETRIES,
      retry_delay_seconds=IO_RETRY_DELAY)
def track_task(results: list[TrainedVariant], dataset: str, data_digest: str,
               commit: str | None, pipeline_params: dict[str, Any], leaderboard_path: str,
               plots: list[str], reports: list[str], tracking_uri: str,
               example_users: list[int]) -> dict[str, Any]:
    """Log the parent run and one nested run (with its pyfunc model) per variant to MLflow."""
    tracked = log_pipeline(
        [VariantResult(r.variant, r.params, r.metrics, r.model_dir, r.curve, r.search)
         for r in results],
        dataset=dataset, data_digest=data_digest, commit=commit,
        pipeline_params=pipeline_params, example_users=example_users,
        leaderboard=pd.read_csv(leaderboard_path), plots=[Path(p) for p in plots],
        reports=[Path(p) for p in reports if p], tracking_uri=tracking_uri,
        run_name=f"pipeline-{dataset}",
    )
    return {"tracking_uri": tracked.tracking_uri, "experiment_id": tracked.experiment_id,
            "parent_run_id": tracked.parent_run_id,
            "variants": {name: {"run_id": v.run_id, "model_uri": v.model_uri}
                         for name, v in tracked.variants.items()}}


@task(cache_policy=NO_CACHE, retries=IO_RETRIES, retry_delay_seconds=IO_RETRY_DELAY)
def register_task(best: dict[str, Any], tracked: dict[str, Any], evaluation_key: str,
                  data_digest: str, settings: RegisterConfig | Mapping[str, Any],
                  split: dict[str, str], items_path: str, k: int,
                  tracking_uri: str, dataset: str) -> dict[str, Any]:
    """Register the best variant as ``challenger`` of the dataset's registered model;
    promote it to ``champion`` if it wins (``recsys.tracking.registry.register_best``,
    under the ``register:`` section ``settings``).

    The comparison re-fits the champion's configuration on this run's training split and
    bootstraps the per-user difference over its test users (``recsys.evaluation.paired``).
    """
    config = RegisterConfig.model_validate(settings)
    metric = config.metric_for(k)
    if best.get("model_digest") and digest_of(best["model_dir"]) != best["model_digest"]:
        # another run rewrote the folder since this run trained and evaluated it
        raise RuntimeError(f"{best['model_dir']} no longer holds the {best['variant']} model "
                           "this run evaluated: not registering it")

    def refit(champion: Any) -> tuple[Any, dict[str, float]]:
        # the champion's configuration fitted on this run's training split, not the champion
        # as fitted: its training data may hold most of this split's test ratings
        return refit_and_evaluate(champion, pd.read_parquet(split["train"]),
                                  pd.read_parquet(split["test"]), pd.read_parquet(items_path), k=k)

    def rescore(champion: Any) -> dict[str, float]:  # every metric: the guard needs them
        return {name: float(value) for name, value in refit(champion)[1].items()}

    def compare(champion: Any) -> Comparison:
        refitted, champion_metrics = refit(champion)
        interval = compare_models(load_model(best["model_dir"]), refitted,
                                  pd.read_parquet(split["test"]), metric, k=k)
        sign = 1.0 if config.direction == "maximize" else -1.0
        low, high = sorted((sign * interval.low, sign * interval.high))
        return Comparison(interval.mean_a, interval.mean_b, low, high, interval.n_users,
                          interval.confidence, champion_metrics)

    try:
        per_user_metric(metric)
        paired = True
    except ValueError:  # not a mean over users (e.g. coverage): plain re-scored comparison
        paired = False
    variant = best["variant"]
    decision = register_best(
        tracked["variants"][variant]["model_uri"], run_id=tracked["variants"][variant]["run_id"],
        variant=variant, metrics=best["metrics"], evaluation_key=evaluation_key,
        data_hash=data_digest, model_dir=best["model_dir"], dataset=dataset, metric=metric,
        direction=config.direction, min_improvement=config.min_improvement,
        rescore=rescore, compare=compare if paired else None,
        model_name=registered_name(config.model_name, dataset), tracking_uri=tracking_uri,
        max_coverage_drop=config.max_coverage_drop,
        max_personalisation_drop=config.max_personalisation_drop,
    )
    get_run_logger().info(decision.summary())
    return {**asdict(decision), "summary": decision.summary()}


@flow(name="register")
def register(results: list[TrainedVariant], board: Board, *, dataset: str, data_digest: str,
             commit: str | None, pipeline_params: dict[str, Any], evaluation_key: str,
             settings: RegisterConfig, split: SplitPaths, items_path: str, k: int,
             tracking_uri: str, reports: list[str]) -> dict[str, Any]:
    """Track the run in MLflow and register/promote the best variant."""
    test_users = pd.read_parquet(split.test, columns=["user_id"])["user_id"]
    example_users = [int(u) for u in test_users.drop_duplicates().head(3)]
    kwargs: dict[str, Any] = dict(
        results=results, dataset=dataset, data_digest=data_digest, commit=commit,
        pipeline_params=pipeline_params, leaderboard_path=board.leaderboard, plots=board.plots,
        reports=reports, tracking_uri=tracking_uri, example_users=example_users)
    tracked = track_task(**kwargs)
    if not run_exists(tracked["parent_run_id"], tracking_uri):
        get_run_logger().warning("cached MLflow run %s is not in %s: logging again",
                                 tracked["parent_run_id"], redact_uri(tracking_uri))
        tracked = track_task.with_options(refresh_cache=True)(**kwargs)
    best = next(r for r in results if r.variant == board.best)
    decision = register_task(
        {"variant": best.variant, "params": best.params, "metrics": best.metrics,
         "model_dir": best.model_dir, "model_digest": best.outputs.digests.get(best.model_dir)},
        tracked, evaluation_key, data_digest, settings,
        {"train": split.train, "test": split.test}, items_path, k, tracking_uri, dataset)
    return {"tracked": tracked, "decision": decision}
