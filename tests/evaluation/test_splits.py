"""Splitters leak nothing, sizes add up, each protocol's invariant holds."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from recsys.evaluation.splits import PROTOCOLS, UnknownProtocolError, split_ratings

pytestmark = pytest.mark.unit


@st.composite
def ratings_frames(draw: st.DrawFn) -> pd.DataFrame:
    n_users = draw(st.integers(1, 8))
    n_items = draw(st.integers(1, 10))
    pairs = draw(
        st.lists(st.tuples(st.integers(1, n_users), st.integers(1, n_items)), min_size=1,
                 max_size=60, unique=True)
    )
    times = draw(st.lists(st.integers(0, 20), min_size=len(pairs), max_size=len(pairs)))
    frame = pd.DataFrame(pairs, columns=["user_id", "item_id"])
    frame["rating"] = 4.0
    frame["timestamp"] = times
    return frame


def _keys(frame: pd.DataFrame) -> set[tuple[int, int]]:
    return set(zip(frame["user_id"].tolist(), frame["item_id"].tolist(), strict=True))


@settings(max_examples=40, deadline=None)
@given(ratings_frames(), st.sampled_from(PROTOCOLS), st.floats(0.1, 0.9))
def test_no_leak_and_sizes_add_up(ratings: pd.DataFrame, protocol: str, test_size: float) -> None:
    split = split_ratings(ratings, protocol, test_size=test_size, seed=7)
    assert len(split.train) + len(split.test) == len(ratings)
    assert not _keys(split.train) & _keys(split.test)
    assert _keys(split.train) | _keys(split.test) == _keys(ratings)
    assert list(split.train.columns) == list(ratings.columns)
    assert split.protocol == protocol


@settings(max_examples=40, deadline=None)
@given(ratings_frames(), st.sampled_from(["user", "item"]))
def test_stratified_keeps_share_per_group(ratings: pd.DataFrame, filter_by: str) -> None:
    split = split_ratings(ratings, "ms-stratified", filter_by=filter_by)  # type: ignore[arg-type]
    column = f"{filter_by}_id"
    total = ratings.groupby(column).size()
    in_train = split.train.groupby(column).size().reindex(total.index, fill_value=0)
    # rank / size <= 0.75 keeps floor(0.75 * size) rows of every group in training
    assert (in_train == np.floor(0.75 * total).astype(int)).all()


@settings(max_examples=40, deadline=None)
@given(ratings_frames())
def test_temporal_never_trains_on_the_future(ratings: pd.DataFrame) -> None:
    split = split_ratings(ratings, "temporal")
    if len(split.test) and len(split.train):
        assert split.train["timestamp"].max() < split.test["timestamp"].min()


@settings(max_examples=40, deadline=None)
@given(ratings_frames())
def test_leave_last_out_holds_out_each_users_last(ratings: pd.DataFrame) -> None:
    split = split_ratings(ratings, "leave-last-out")
    counts = ratings.groupby("user_id").size()
    assert set(split.test["user_id"]) == set(counts[counts >= 2].index)
    assert split.test["user_id"].is_unique
    last_train = split.train.groupby("user_id")["timestamp"].max()
    for row in split.test.itertuples():
        assert row.timestamp >= last_train[row.user_id]


@settings(max_examples=40, deadline=None)
@given(ratings_frames(), st.integers(0, 5))
def test_cold_start_users_keep_at_most_history(ratings: pd.DataFrame, history: int) -> None:
    split = split_ratings(ratings, "cold-start", test_size=0.5, cold_start_history=history)
    test_users = set(split.test["user_id"])
    train_counts = split.train.groupby("user_id").size()
    for user in test_users:
        assert train_counts.get(user, 0) <= history
        kept = split.train.loc[split.train["user_id"] == user, "timestamp"]
        held = split.test.loc[split.test["user_id"] == user, "timestamp"]
        if len(kept):
            assert kept.max() <= held.min()
    other = ratings[~ratings["user_id"].isin(test_users)]
    assert _keys(other) <= _keys(split.train)


def test_unknown_protocol_and_bad_test_size() -> None:
    frame = pd.DataFrame({"user_id": [1], "item_id": [1], "rating": [4.0], "timestamp": [0]})
    with pytest.raises(UnknownProtocolError, match="choose one of"):
        split_ratings(frame, "random")
    with pytest.raises(ValueError, match="test_size"):
        split_ratings(frame, test_size=1.5)


@settings(max_examples=25, deadline=None)
@given(ratings_frames(), st.sampled_from(PROTOCOLS))
def test_same_seed_same_split(ratings: pd.DataFrame, protocol: str) -> None:
    first = split_ratings(ratings, protocol, seed=42)
    second = split_ratings(ratings.copy(), protocol, seed=42)
    pd.testing.assert_frame_equal(first.train, second.train)
    pd.testing.assert_frame_equal(first.test, second.test)
