"""Truncated SVD: the contract."""

from __future__ import annotations

import pytest

from recsys.testing import RecommenderContract

pytestmark = pytest.mark.model


class TestTruncatedSVD(RecommenderContract):
    name = "svd"
    params = {"factors": 2, "ranking_factors": 3}
    quality_floor = 0.8
    history_floor = 0.8


class TestTruncatedSVDRatingRanking(RecommenderContract):
    name = "svd"
    params = {"factors": 3, "ranking_factors": 0}
    quality_floor = 0.0
