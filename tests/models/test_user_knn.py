"""User-based KNN: the contract for both similarities."""

from __future__ import annotations

import pytest

from recsys.testing import RecommenderContract

pytestmark = pytest.mark.model


class TestUserKNNCosine(RecommenderContract):
    name = "user_knn"
    params = {"neighbours": 5}
    quality_floor = 0.8
    history_floor = 0.8


class TestUserKNNPearson(RecommenderContract):
    name = "user_knn"
    params = {"neighbours": 5, "similarity": "pearson", "shrinkage": 2.0}
    quality_floor = 0.5

    def test_liked_items_alone_find_neighbours(self, fitted, checkerboard) -> None:
        """A visitor who only names liked movies (all ratings equal) has nothing to
        mean-centre: the Pearson model matches them by cosine instead of returning all-zero
        scores (which ranked items by id)."""
        hits = 0
        for user in checkerboard.rated_users:
            liked = checkerboard.ratings.loc[checkerboard.ratings["user_id"] == user, "item_id"]
            recs = fitted.recommend_for_history(liked, k=1)
            assert not recs.cold_start
            hits += recs.items_of(-1)[:1] == [checkerboard.held_out[user]]
        assert hits / len(checkerboard.rated_users) >= 0.5
