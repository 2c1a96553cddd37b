"""The ``ms-stratified`` protocol on the real ML-100K ratings."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from recsys.evaluation.splits import Split, split_ratings

pytestmark = pytest.mark.data


def test_ms_stratified_is_deterministic_for_seed_42(
    ml100k: tuple[pd.DataFrame, ...], ml100k_split: Split
) -> None:
    again = split_ratings(ml100k[0], "ms-stratified", seed=42)
    pd.testing.assert_frame_equal(ml100k_split.train, again.train)
    pd.testing.assert_frame_equal(ml100k_split.test, again.test)
    other = split_ratings(ml100k[0], "ms-stratified", seed=43)
    assert not ml100k_split.test.equals(other.test)


def test_ms_stratified_is_the_item_stratified_75_25_split(
    ml100k: tuple[pd.DataFrame, ...], ml100k_split: Split
) -> None:
    ratings = ml100k[0]
    train, test = ml100k_split.train, ml100k_split.test
    assert len(train) + len(test) == len(ratings) == 100_000
    assert 0.25 <= len(test) / len(ratings) < 0.27  # floor(0.75 n) per item rounds towards test
    per_item = ratings.groupby("item_id").size()
    in_train = train.groupby("item_id").size().reindex(per_item.index, fill_value=0)
    assert (in_train == np.floor(0.75 * per_item)).all()
    # every user still has training history (each has >= 20 ratings)
    assert set(train["user_id"]) == set(ratings["user_id"])
