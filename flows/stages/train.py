"""Train: split the ratings, then fit and evaluate every variant in parallel."""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import pandas as pd
from prefect import flow, get_run_logger, task

from flows.caching import Outputs, content_key
from flows.stages.search import SearchError, collect, inner_split, submit_trials
from recsys.data.schema import ITEM_ID, USER_ID
from recsys.data.tables import compact_ratings, write_table_file
from recsys.evaluation.evaluate import fit_and_evaluate_lists
from recsys.evaluation.search import SearchOutcome, Trial
from recsys.evaluation.splits import split_ratings
from recsys.models.budget import data_shape, per_fit_budget, skip_reason
from recsys.models.sizing import DataShape
from recsys.params import TrainConfig
from recsys.tracking.mlflow_runs import CURVE_KS, precision_recall_curve


@dataclass(frozen=True)
class SplitPaths:
    """The training and test ratings (Parquet paths)."""

    train: str
    test: str
    outputs: Outputs = Outputs()


@dataclass(frozen=True)
class TrainedVariant:
    """One fitted variant: its parameters, metrics, saved folder and precision/recall curve,
    and for a searched variant its search (``params`` are then the chosen trial's).

    ``outputs`` holds the saved folder's digest: ``model_dir`` is one folder per variant
    whatever the parameters or data, so a cached result only describes the folder while the
    digests agree (training A, then B, then A again finds A's cached result over B's model).
    """

    variant: str
    params: dict[str, Any]
    metrics: dict[str, float]
    model_dir: str
    curve: list[dict[str, Any]]
    outputs: Outputs = Outputs()
    search: SearchOutcome | None = None

    @property
    def trials(self) -> int:
        """How many trials chose ``params`` (0: not searched, the configured settings)."""
        return len(self.search.trials) if self.search else 0


@dataclass(frozen=True)
class Training:
    """What the train stage produced: the fitted variants and why others failed."""

    results: list[TrainedVariant]
    failed: dict[str, str] = field(default_factory=dict)
    #: variants not started, with the reason: named in ``train.skip``, or over the memory
    #: budget by their estimate (``recsys.models.budget``)
    skipped: dict[str, str] = field(default_factory=dict)


@task(cache_key_fn=content_key, persist_result=True)
def split_task(ratings_path: str, out_dir: str, protocol: str, seed: int,
               test_size: float) -> SplitPaths:
    """Split the ratings into training and test tables (``recsys.evaluation.splits``)."""
    split = split_ratings(pd.read_parquet(ratings_path), protocol, seed=seed, test_size=test_size)
    train = write_table_file(compact_ratings(split.train), Path(out_dir) / "train.parquet")
    test = write_table_file(compact_ratings(split.test), Path(out_dir) / "test.parquet")
    return SplitPaths(str(train), str(test), Outputs.of([train, test]))


@task(cache_key_fn=content_key, persist_result=True)
def train_variant(variant: str, params: dict[str, Any], train_path: str, test_path: str,
                  items_path: str, model_dir: str, k: int, seed: int) -> TrainedVariant:
    """Fit and evaluate one variant (``recsys.evaluation.evaluate.fit_and_evaluate_lists``),
    save it."""
    test = pd.read_parquet(test_path)
    model, evaluation = fit_and_evaluate_lists(
        variant, params, pd.read_parquet(train_path), test, pd.read_parquet(items_path), k=k,
        seed=seed, depth=max(k, *CURVE_KS))
    metrics = evaluation.metrics
    model.save(model_dir)
    curve = precision_recall_curve(evaluation.lists, test)
    (Path(model_dir) / "metrics.json").write_text(json.dumps(metrics, indent=2))
    return TrainedVariant(variant=variant, params=params, metrics=metrics, model_dir=model_dir,
                          curve=[{str(key): value for key, value in point.items()}
                                 for point in curve.to_dict("records")],
                          outputs=Outputs.of([model_dir]))


def _train_shape(train_path: str) -> DataShape:
    return data_shape(pd.read_parquet(train_path, columns=[USER_ID, ITEM_ID]))


def _not_trained(variant: str, config: TrainConfig, shape: Callable[[], DataShape]) -> str | None:
    """Why ``variant`` is not started: named in ``config.skip`` (e.g. a measured fit time a
    profile cannot afford), or its estimated fit memory exceeds its share of
    ``config.memory_budget_gb`` among ``config.parallelism`` fits, or it scores more than
    ``config.max_fit_pairs`` pairs all against all; ``None`` to train it."""
    if variant in config.skip:
        return f"skipped: {config.skip[variant]}"
    return skip_reason(variant, config.model_settings(variant), shape(),
                       per_fit_budget(config.memory_budget_gb, config.parallelism),
                       config.max_fit_pairs)


@flow(name="train")
def train(config: TrainConfig, split: SplitPaths, items_path: str, models_dir: str,
          k: int = 10, seed: int = 42, variants: Sequence[str] | None = None) -> Training:
    """Train ``variants`` (default ``config.models``), each with its config from the
    ``train:`` section ``config``, in parallel on the flow's task runner; a variant
    ``config.skip`` names, or whose estimated fit memory exceeds its share of the budget,
    is skipped with the reason.

    A variant ``config.search`` names is searched before it is trained: all trials of all
    such variants are submitted at once (they fan out over the runner's workers), each
    fitted on the inner training part of the training split and scored on its validation
    part; the best trial's settings are then trained like any variant. A variant whose
    trials all fail is failed with their reasons.
    """
    logger = get_run_logger()
    skipped: dict[str, str] = {}
    failed: dict[str, str] = {}
    shape = functools.cache(lambda: _train_shape(split.train))
    to_train = []
    for variant in variants or config.models:
        reason = _not_trained(variant, config, shape)
        if reason:
            skipped[variant] = reason
            logger.warning("%s: %s", variant, reason)
        else:
            to_train.append(variant)

    plans = config.trials(to_train)
    futures: dict[str, tuple[Any, dict[str, Any]]] = {}

    def submit(variant: str, params: dict[str, Any]) -> None:
        kwargs: dict[str, Any] = dict(
            variant=variant, params=params, train_path=split.train, test_path=split.test,
            items_path=items_path, model_dir=f"{models_dir}/{variant}", k=k, seed=seed)
        futures[variant] = (train_variant.submit(**kwargs), kwargs)

    # the variants without a search start first: the long fits begin at once and the
    # trials fill the workers beside them
    for variant in to_train:
        if variant not in plans:
            submit(variant, config.model_settings(variant))
    searching: dict[str, list[tuple[Trial, Any]]] = {}
    if plans:
        try:
            inner = inner_split(config.search, split.train)
        except Exception as exc:  # noqa: BLE001 - every searched variant fails with it
            for variant in plans:
                failed[variant] = f"search failed: validation split: {exc}"
                logger.error("%s: %s", variant, failed[variant])
        else:
            searching = submit_trials(plans, inner, items_path, k, seed)

    outcomes: dict[str, SearchOutcome] = {}
    for variant, trials in searching.items():
        try:
            outcomes[variant] = collect(variant, trials, k)
        except SearchError as exc:
            failed[variant] = f"search failed: {exc}"
            logger.error("%s: %s", variant, failed[variant])
            continue
        submit(variant, outcomes[variant].chosen.params)

    results: list[TrainedVariant] = []
    for variant in to_train:
        if variant not in futures:
            continue
        future, kwargs = futures[variant]
        future.wait()
        state = future.state
        if not state.is_completed():
            failed[variant] = str(state.message or state.name)
            logger.error("training %s failed: %s", variant, failed[variant])
            continue
        result: TrainedVariant = future.result()
        stale = result.outputs.changed()
        if stale:
            logger.warning("cached %s result does not match its model (%s): retraining",
                           variant, "; ".join(stale))
            result = train_variant.with_options(refresh_cache=True)(**kwargs)
        results.append(replace(result, search=outcomes.get(variant)))
    return Training(results, failed, skipped)
