"""Popularity: the contract, plus what a non-personalised ranker must do."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from recsys.data.interactions import Interactions
from recsys.models import create
from recsys.testing import UNRATED_ITEM, Checkerboard, RecommenderContract

pytestmark = pytest.mark.model


class TestPopularity(RecommenderContract):
    name = "popularity"
    params = {}
    # every checkerboard item is equally popular: no personal signal to find
    quality_floor = 0.0


class TestDampedMeanPopularity(RecommenderContract):
    name = "popularity"
    params = {"mode": "damped_mean", "damping": 2.0}
    quality_floor = 0.0


def test_count_mode_ranks_most_rated_first() -> None:
    ratings = pd.DataFrame(
        {"user_id": [1, 2, 3, 1, 2, 1], "item_id": [10, 10, 10, 20, 20, 30], "rating": 3.0}
    )
    model = create("popularity").fit(Interactions.from_frame(ratings))
    recs = model.recommend(99, k=3)
    assert recs.items_of(99) == [10, 20, 30]
    assert recs.cold_start == frozenset({99})


def test_damped_mean_pulls_rare_items_to_the_mean(checkerboard: Checkerboard) -> None:
    model = create("popularity", mode="damped_mean", damping=5.0).fit(checkerboard.interactions)
    # the unrated catalogue item sits exactly at the global mean
    assert np.isclose(model.score(1, [UNRATED_ITEM])[0], model.global_mean_)
    ratings = pd.DataFrame(
        {
            "user_id": [1, 2, 3, 4, 1, 1, 2, 3, 4],
            "item_id": [10, 10, 10, 10, 20, 30, 30, 30, 30],
            "rating": [5.0] * 5 + [1.0] * 4,
        }
    )
    damped = create("popularity", mode="damped_mean", damping=5.0).fit(Interactions.from_frame(ratings))
    # equal raw means (5.0): more support wins once damped
    assert damped.recommend(99, k=3).items_of(99) == [10, 20, 30]
    assert np.isclose(damped.score(99, [20])[0], (5.0 + 5.0 * damped.global_mean_) / 6.0)
