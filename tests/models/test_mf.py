"""Biased matrix factorisation: the contract plus rating-accuracy checks (Gibbs and ALS)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import sparse

from recsys.data.interactions import Interactions
from recsys.models import create
from recsys.models._rating_blend import neighbourhood_correction
from recsys.testing import Checkerboard, RecommenderContract

pytestmark = pytest.mark.model

#: Small Gibbs run for the tiny test data.
FAST = {"factors": 3, "iterations": 5, "regularization": 0.05, "burn_in": 5, "samples": 10}


class TestBiasedMF(RecommenderContract):
    name = "mf"
    params = FAST
    # ranks by predicted rating times support; the block's held-out item ties in support
    # with the user's seen items, so a share of users get the next block's item (0.39-0.67
    # over seeds 1, 7, 42)
    quality_floor = 0.3


class TestBiasedMFALS(RecommenderContract):
    """The MAP (ALS-only) variant, ranking by bare predicted rating."""

    name = "mf"
    params = {**FAST, "samples": 0, "ranking": "rating"}
    # out-of-block items carry no signal on the checkerboard for a bare rating ranking
    quality_floor = 0.0


def low_rank_ratings(seed: int = 0) -> pd.DataFrame:
    """60 users x 40 items, rank-2 tastes plus biases and noise, 60% observed, 1..5 scale."""
    rng = np.random.default_rng(seed)
    users, items = rng.normal(0, 1, (60, 2)), rng.normal(0, 1, (40, 2))
    truth = 3.5 + rng.normal(0, 0.3, (60, 1)) + rng.normal(0, 0.3, (1, 40)) + users @ items.T * 0.7
    observed = np.argwhere(rng.random((60, 40)) < 0.6)
    values = truth[observed[:, 0], observed[:, 1]] + rng.normal(0, 0.3, len(observed))
    return pd.DataFrame({
        "user_id": observed[:, 0] + 1, "item_id": observed[:, 1] + 1,
        "rating": np.clip(np.round(values), 1, 5), "timestamp": 1_000_000,
    })


def test_fits_training_ratings_better_than_the_baseline(checkerboard: Checkerboard) -> None:
    users, items = checkerboard.ratings["user_id"], checkerboard.ratings["item_id"]
    truth = checkerboard.ratings["rating"].to_numpy()

    def train_rmse(name: str, **params: object) -> float:
        model = create(name, **params).fit(checkerboard.interactions)
        return float(np.sqrt(np.mean((model.predict(users, items) - truth) ** 2)))

    baseline = train_rmse("baseline")
    assert train_rmse("mf", factors=3, iterations=10, regularization=0.01, samples=0) < baseline
    assert train_rmse("mf", **FAST) < baseline


def test_gibbs_average_predicts_held_out_ratings_better_than_baseline_and_map() -> None:
    frame = low_rank_ratings()
    test_rows = np.random.default_rng(1).random(len(frame)) < 0.2
    train = Interactions.from_frame(frame[~test_rows])
    test = frame[test_rows]
    test = test[test["user_id"].isin(train.users.ids) & test["item_id"].isin(train.items.ids)]

    def rmse(name: str, **params: object) -> float:
        model = create(name, **params).fit(train)
        predicted = model.predict(test["user_id"], test["item_id"])
        return float(np.sqrt(np.mean((predicted - test["rating"].to_numpy()) ** 2)))

    bayes = rmse("mf", factors=4, burn_in=20, samples=40, seed=3)
    assert bayes < rmse("baseline") - 0.05
    # overfit MAP (tiny penalty, more factors than the truth) loses to the posterior mean
    assert bayes < rmse("mf", factors=4, regularization=0.001, iterations=20, samples=0)


def test_compressed_average_matches_the_full_average() -> None:
    train = Interactions.from_frame(low_rank_ratings())
    frame = train.frame
    full = create("mf", factors=3, burn_in=5, samples=10, stored_rank=30, seed=5).fit(train)
    small = create("mf", factors=3, burn_in=5, samples=10, stored_rank=8, seed=5).fit(train)
    assert full.user_factors_.shape[1] == 30 and small.user_factors_.shape[1] == 8
    a = full.predict(frame["user_id"], frame["item_id"])
    b = small.predict(frame["user_id"], frame["item_id"])
    assert np.sqrt(np.mean((a - b) ** 2)) < 0.05


def test_predictions_stay_in_the_rating_range_and_ranking_modes(checkerboard: Checkerboard) -> None:
    model = create("mf", **{**FAST, "ranking": "rating", "neighbours": 0}).fit(
        checkerboard.interactions
    )
    grid_users = np.repeat(checkerboard.rated_users, len(model.items_))
    grid_items = np.tile(model.items_.ids, len(checkerboard.rated_users))
    predicted = model.predict(grid_users, grid_items)
    low, high = checkerboard.ratings["rating"].min(), checkerboard.ratings["rating"].max()
    assert predicted.min() >= low and predicted.max() <= high
    # "rating" ranking scores are the predictions themselves (no neighbourhood correction)
    user = checkerboard.rated_users[0]
    np.testing.assert_allclose(
        model.score(user), model.predict([user] * len(model.items_), model.items_.ids)
    )


def test_neighbourhood_correction_interpolates_similar_items_residuals() -> None:
    # user 0 rated items 0 (+1 residual) and 1 (-1); item 2 resembles item 0 far more
    residuals = sparse.csr_matrix(np.array([[1.0, -1.0, 0.0], [0.0, 0.0, 0.0]]))
    similarities = sparse.csr_matrix(
        np.array([[0.0, 0.0, 0.9], [0.0, 0.0, 0.1], [0.9, 0.1, 0.0]])
    )
    users, items = np.array([0, 0, 1]), np.array([2, 2, 2])
    both = neighbourhood_correction(residuals, similarities, users, items, neighbours=2)
    np.testing.assert_allclose(both, [0.8, 0.8, 0.0])
    nearest = neighbourhood_correction(residuals, similarities, users, items, neighbours=1)
    np.testing.assert_allclose(nearest, [1.0, 1.0, 0.0])
