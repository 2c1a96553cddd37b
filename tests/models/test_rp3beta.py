"""RP3beta: the contract and its sparse neighbourhood."""

from __future__ import annotations

import numpy as np
import pytest

from recsys.models.rp3beta import RP3Beta
from recsys.testing import Checkerboard, RecommenderContract

pytestmark = pytest.mark.model


class TestRP3Beta(RecommenderContract):
    name = "rp3beta"
    params = {"neighbours": 5}
    quality_floor = 1.0


def test_rp3beta_keeps_at_most_neighbours_per_item(checkerboard: Checkerboard) -> None:
    model = RP3Beta(neighbours=3).fit(checkerboard.interactions)
    per_item = np.diff(model.weights_.indptr)
    assert per_item.max() <= 3
    assert (model.weights_.diagonal() == 0).all()
