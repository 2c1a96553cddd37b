"""EASE: the contract plus Made-With-ML behaviour checks."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from recsys.data.interactions import Interactions
from recsys.models import create

from .conftest import Checkerboard
from .contract import RecommenderContract

pytestmark = pytest.mark.model


class TestEASE(RecommenderContract):
    name = "ease"
    params = {"regularization": 1.0}
    quality_floor = 1.0
    history_floor = 1.0


class TestEASERatings(RecommenderContract):
    name = "ease"
    params = {"regularization": 5.0, "feedback": "rating", "dropout": 0.2}
    quality_floor = 0.8


def test_relabelling_users_changes_nothing(checkerboard: Checkerboard) -> None:
    """Invariance: renaming users (ids are labels) leaves every recommendation unchanged."""
    relabelled = checkerboard.ratings.assign(user_id=checkerboard.ratings["user_id"] + 1000)
    a = create("ease", regularization=1.0).fit(checkerboard.interactions)
    b = create("ease", regularization=1.0).fit(Interactions.from_frame(relabelled, checkerboard.items))
    for user in checkerboard.rated_users:
        assert a.recommend(user, k=5).items_of(user) == b.recommend(user + 1000, k=5).items_of(user + 1000)


def test_adding_a_block_item_pulls_that_block_up(checkerboard: Checkerboard) -> None:
    """Directional: a history gaining items of block 2 scores block 2 higher."""
    model = create("ease", regularization=1.0).fit(checkerboard.interactions)
    block0, block2 = checkerboard.block_items[0], checkerboard.block_items[2]
    before = model.recommend_for_history(block0[:3], k=model.n_items).frame
    after = model.recommend_for_history([*block0[:3], *block2[:2]], k=model.n_items).frame
    score = lambda frame, item: float(frame.loc[frame["item_id"] == item, "score"].iloc[0])  # noqa: E731
    assert score(after, block2[3]) > score(before, block2[3])


def test_block_history_gets_its_block(checkerboard: Checkerboard) -> None:
    """Minimum functionality: a visitor who liked part of a block gets the rest of it first."""
    model = create("ease", regularization=1.0).fit(checkerboard.interactions)
    for block, items in checkerboard.block_items.items():
        recs = model.recommend_for_history(items[:3], k=2)
        assert set(recs.items_of(-1)) == set(items[3:]), f"block {block}"


def test_weights_have_zero_diagonal(checkerboard: Checkerboard) -> None:
    model = create("ease", regularization=1.0).fit(checkerboard.interactions)
    np.testing.assert_array_equal(np.diag(model.weights_), 0.0)
    assert isinstance(model.recommend(1).frame, pd.DataFrame)
