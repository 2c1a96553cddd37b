"""Profile attributes against values computed by hand on a six-rating frame."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from recsys.shilling.features import ATTRIBUTES, profile_attributes

pytestmark = pytest.mark.unit

# item means: 10 -> 3 (3 ratings), 20 -> 2 (2 ratings), 30 -> 5 (1 rating)
EXPECTED = {
    "wda": [2 / 3 + 1 / 2, 1 / 2, 2 / 3],
    "rdma": [(2 / 3 + 1 / 2) / 2, (1 / 2) / 3, 2 / 3],
    "wdma": [(2 / 9 + 1 / 4) / 2, (1 / 4) / 3, 2 / 9],
    "length_var": [0.0, 0.5, 0.5],
    "mean_var": [1.0, 0.5, 4.0],
    "fmv": [1.0, 0.5, 4.0],
    "fmd": [1.0, 0.5, 2.0],
    "fmtd": [2.0, 3.0, 0.0],
    "tmf": [1.0, 1.0, 0.0],
    "entropy": [math.log(2) / math.log(3), 1.0, 0.0],
    "max_share": [0.5, 1 / 3, 0.0],
    "min_share": [0.0, 1 / 3, 1.0],
    "mean_rating": [4.0, 3.0, 1.0],
}


def test_attributes_match_hand_computed_values(tiny_ratings: pd.DataFrame) -> None:
    attrs = profile_attributes(tiny_ratings, k=1)
    assert list(attrs.columns) == list(ATTRIBUTES)
    assert attrs.index.tolist() == [1, 2, 3]
    for name, values in EXPECTED.items():
        np.testing.assert_allclose(attrs[name].to_numpy(), values, rtol=1e-9, err_msg=name)


def test_deg_sim_is_high_for_identical_profiles() -> None:
    rng = np.random.default_rng(0)
    rows = []
    for user in range(1, 21):
        items = rng.choice(50, 15, replace=False)
        rows += [(user, int(i), float(rng.integers(1, 6))) for i in items]
    clones = [(100 + c, 7, 5.0) for c in range(3)] + [(100 + c, 8, 1.0) for c in range(3)] + [
        (100 + c, 9, 3.0) for c in range(3)
    ]
    frame = pd.DataFrame(rows + clones, columns=["user_id", "item_id", "rating"])
    attrs = profile_attributes(frame, k=2)
    assert attrs.loc[[100, 101, 102], "deg_sim"].min() > 0.99
    assert attrs.loc[1:20, "deg_sim"].max() < 0.99
