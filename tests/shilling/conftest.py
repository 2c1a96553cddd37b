"""Fixtures for the shilling tests: a tiny hand-checkable frame and attacks on ML-100K."""

from __future__ import annotations

import pandas as pd
import pytest

from recsys.shilling.attacks import Attack, generate_attack


@pytest.fixture
def tiny_ratings() -> pd.DataFrame:
    """Three users, three items, hand-computable attributes."""
    rows = [
        (1, 10, 5.0), (1, 20, 3.0),
        (2, 10, 3.0), (2, 20, 1.0), (2, 30, 5.0),
        (3, 10, 1.0),
    ]
    frame = pd.DataFrame(rows, columns=["user_id", "item_id", "rating"])
    frame["timestamp"] = 1_000
    return frame


@pytest.fixture(scope="session")
def average_attack(ml100k: tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]) -> Attack:
    """A 5% average push attack with 5% filler on a mid-popularity item."""
    ratings = ml100k[0]
    return generate_attack(ratings, "average", size=0.05, filler=0.05, targets=300, seed=7)
