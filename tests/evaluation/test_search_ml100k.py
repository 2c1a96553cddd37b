"""Hyperparameter search on real ratings (ML-100K): the inner validation split and a
trial's score."""

from __future__ import annotations

import pandas as pd
import pytest

from recsys.evaluation.evaluate import fit_and_evaluate
from recsys.evaluation.search import (
    SearchConfig,
    SearchError,
    VariantSearch,
    plan_trials,
    run_trial,
    trial_table,
    validation_split,
)

pytestmark = pytest.mark.model


def test_the_validation_split_is_carved_out_of_the_training_ratings(
        ml100k: tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]) -> None:
    ratings = ml100k[0]
    train = ratings[ratings["user_id"] <= 200].reset_index(drop=True)
    for protocol in ("ms-stratified", "sampled-last-out"):
        config = SearchConfig(protocol=protocol, validation_size=0.25, seed=1)
        inner = validation_split(train, config)
        both = pd.concat([inner.train, inner.test])
        assert len(both) == len(train) and not inner.test.empty
        key = ["user_id", "item_id"]
        assert both.sort_values(key).reset_index(drop=True).equals(
            train.sort_values(key).reset_index(drop=True))
        assert inner.test.equals(validation_split(train, config).test)  # seeded
    with pytest.raises(SearchError, match="leaves an empty part"):
        validation_split(train.head(1), SearchConfig(protocol="sampled-last-out"))


def test_a_trial_scores_ndcg_on_the_validation_part(
        ml100k: tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]) -> None:
    ratings, items, _ = ml100k
    inner = validation_split(ratings[ratings["user_id"] <= 200].reset_index(drop=True),
                             SearchConfig())
    trial = plan_trials("item_knn", VariantSearch(grid={"neighbours": [15]}), {})[0]
    result = run_trial(trial, inner.train, inner.test, items, k=10, seed=3)
    _, metrics = fit_and_evaluate("item_knn", {"neighbours": 15}, inner.train, inner.test,
                                  items, k=10, seed=3)
    assert result.succeeded and result.score == metrics["ndcg_at_10"] > 0.05
    assert result.seconds > 0
    assert trial_table([result]).columns.tolist() == [
        "trial", "neighbours", "validation_ndcg_at_10", "seconds", "chosen", "error"]
