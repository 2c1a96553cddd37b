"""Biased baseline: the contract plus directional and invariance behaviour checks."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from recsys.data.interactions import Interactions
from recsys.models import create
from recsys.testing import Checkerboard, RecommenderContract

pytestmark = pytest.mark.model


class TestBiasedBaseline(RecommenderContract):
    name = "baseline"
    params = {"iterations": 5}
    # non-personalised ranking (item biases): no block structure to find
    quality_floor = 0.0


def test_shifting_all_ratings_shifts_predictions(checkerboard: Checkerboard) -> None:
    """Invariance: adding a constant to every rating adds it to every prediction."""
    shifted = checkerboard.ratings.assign(rating=checkerboard.ratings["rating"] + 0.5)
    before = create("baseline").fit(checkerboard.interactions)
    after = create("baseline").fit(Interactions.from_frame(shifted, checkerboard.items))
    users, items = checkerboard.ratings["user_id"], checkerboard.ratings["item_id"]
    np.testing.assert_allclose(after.predict(users, items), before.predict(users, items) + 0.5)


def test_higher_ratings_raise_an_items_prediction(checkerboard: Checkerboard) -> None:
    """Directional: rating an item higher raises its predicted rating for everyone."""
    item = checkerboard.block_items[0][1]
    boosted = checkerboard.ratings.copy()
    boosted.loc[boosted["item_id"] == item, "rating"] = 5.0
    boosted.loc[boosted["item_id"] == checkerboard.block_items[0][2], "rating"] = 1.0
    before = create("baseline").fit(checkerboard.interactions)
    after = create("baseline").fit(Interactions.from_frame(boosted, checkerboard.items))
    assert after.predict([1], [item])[0] > before.predict([1], [item])[0]


def test_biases_match_closed_form_without_regularisation() -> None:
    """Minimum functionality: with no shrinkage, item biases are the items' mean offsets."""
    ratings = pd.DataFrame(
        {"user_id": [1, 2, 1, 2], "item_id": [10, 10, 20, 20], "rating": [5.0, 5.0, 1.0, 1.0]}
    )
    model = create("baseline", user_regularization=0.0, item_regularization=0.0)
    model.fit(Interactions.from_frame(ratings))
    np.testing.assert_allclose(model.predict([1, 2], [10, 20]), [5.0, 1.0])
