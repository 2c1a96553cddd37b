"""User-based KNN: the contract for both similarities."""

from __future__ import annotations

import pytest

from .contract import RecommenderContract

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
