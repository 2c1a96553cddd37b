"""Search: every planned trial of every searched variant as its own task, submitted together
so that they fan out over the task runner's workers; each variant's best trial is chosen
by ``recsys.evaluation.search``.

Trials see the inner training and validation parts of the training split (Parquet paths),
never the test split.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
from prefect import get_run_logger, task

from flows.caching import Outputs, cached_call, content_key
from recsys.data.tables import compact_ratings, write_table_file
from recsys.evaluation.search import (
    SearchConfig,
    SearchError,
    SearchOutcome,
    Trial,
    TrialResult,
    choose_best,
    describe,
    failed_trial,
    run_trial,
    score_key,
    validation_split,
)


@dataclass(frozen=True)
class ValidationPaths:
    """The inner split of the training ratings (Parquet paths)."""

    train: str
    validation: str
    outputs: Outputs = Outputs()


@task(cache_key_fn=content_key, persist_result=True)
def validation_split_task(train_path: str, out_dir: str, protocol: str, seed: int,
                          validation_size: float) -> ValidationPaths:
    """Split the training ratings again (``recsys.evaluation.search.validation_split``)."""
    config = SearchConfig(protocol=protocol, seed=seed,  # type: ignore[arg-type]
                          validation_size=validation_size)
    inner = validation_split(pd.read_parquet(train_path), config)
    train = write_table_file(compact_ratings(inner.train), Path(out_dir) / "train.parquet")
    validation = write_table_file(compact_ratings(inner.test),
                                  Path(out_dir) / "validation.parquet")
    return ValidationPaths(str(train), str(validation), Outputs.of([train, validation]))


@task(cache_key_fn=content_key, persist_result=True,
      task_run_name="trial-{trial.variant}-{trial.number}")
def trial_task(trial: Trial, train_path: str, validation_path: str, items_path: str, k: int,
               seed: int) -> TrialResult:
    """Fit one trial on the inner training part, score it on the validation part
    (``recsys.evaluation.search.run_trial``)."""
    return run_trial(trial, pd.read_parquet(train_path), pd.read_parquet(validation_path),
                     pd.read_parquet(items_path), k=k, seed=seed)


def inner_split(config: SearchConfig, train_path: str) -> ValidationPaths:
    """The (cached) inner split of ``train_path``, written beside it in ``validation/``."""
    split: ValidationPaths = cached_call(
        validation_split_task, lambda s: s.outputs, train_path=train_path,
        out_dir=str(Path(train_path).parent / "validation"), protocol=config.protocol,
        seed=config.seed, validation_size=config.validation_size)
    return split


def submit_trials(plans: Mapping[str, Sequence[Trial]], inner: ValidationPaths,
                  items_path: str, k: int, seed: int) -> dict[str, list[tuple[Trial, Any]]]:
    """Submit every trial of every variant at once; their futures by variant."""
    return {variant: [(trial, trial_task.submit(
                trial=trial, train_path=inner.train, validation_path=inner.validation,
                items_path=items_path, k=k, seed=seed)) for trial in trials]
            for variant, trials in plans.items()}


def collect(variant: str, futures: Sequence[tuple[Trial, Any]], k: int) -> SearchOutcome:
    """Wait for ``variant``'s trials and choose the best; a failed trial is recorded with
    its reason and the others count.

    Raises:
        SearchError: when every trial failed (the message holds each reason).
    """
    logger = get_run_logger()
    results: list[TrialResult] = []
    for trial, future in futures:
        future.wait()
        state = future.state
        if state.is_completed():
            results.append(future.result())
        else:
            reason = str(state.message or state.name)
            logger.error("%s trial %d %s failed: %s", variant, trial.number, trial.settings,
                         reason)
            results.append(failed_trial(trial, reason))
    outcome = choose_best(results, score_key(k))
    logger.info("%s: chose %s", variant, describe(outcome))
    return outcome


__all__ = ["SearchError", "ValidationPaths", "collect", "inner_split", "submit_trials",
           "trial_task", "validation_split_task"]
