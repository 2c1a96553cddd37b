"""The service's ranked lists agree with ``recommend``, precomputed or computed on first use."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from recsys.data.interactions import Interactions
from recsys.models import create
from recsys.models.base import BaseRecommender
from recsys.serving.ranking import RankedLists

N_USERS, N_ITEMS, DEPTH = 60, 400, 50


@pytest.fixture(scope="module")
def model() -> BaseRecommender:
    rng = np.random.default_rng(7)
    users = np.repeat(np.arange(1, N_USERS + 1), 30)
    popular = rng.zipf(1.3, size=users.size) % N_ITEMS     # skewed, with repeats dropped
    frame = pd.DataFrame({"user_id": users, "item_id": 10 + popular,
                          "rating": rng.integers(1, 6, users.size).astype(float),
                          "timestamp": np.arange(users.size)})
    frame = frame.drop_duplicates(["user_id", "item_id"])
    items = pd.DataFrame({"item_id": np.arange(10, 10 + N_ITEMS)})
    return create("ease", regularization=5.0).fit(Interactions.from_frame(frame, items))


def _expected(model: BaseRecommender, user: int, k: int,
              candidates: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    frame = model.recommend(user, k, candidates=candidates).frame
    return model.items_.index(frame["item_id"].to_numpy()), frame["score"].to_numpy()


@pytest.mark.parametrize("max_entries", [10**6, 3 * DEPTH])
def test_every_users_list_is_recommends_list(model: BaseRecommender, max_entries: int) -> None:
    """Precomputed at load (all users fit) or ranked on first use in a 3-user LRU."""
    lists = RankedLists(model, depth=DEPTH, max_entries=max_entries)
    for user in model.users_.ids.tolist() * 2:         # twice: cached and evicted lists
        ranked = lists.of(user)
        want_idx, want_val = _expected(model, user, DEPTH)
        np.testing.assert_array_equal(ranked.index, want_idx)
        np.testing.assert_array_equal(ranked.scores, want_val)
        assert not ranked.complete
    assert len(lists._lists) == (N_USERS if max_entries >= N_USERS * DEPTH else 3)


def test_an_unknown_user_gets_the_fallback_list(model: BaseRecommender) -> None:
    lists = RankedLists(model, depth=DEPTH, max_entries=3 * DEPTH)
    stranger = int(model.users_.ids.max()) + 1
    want_idx, _ = _expected(model, stranger, DEPTH)
    np.testing.assert_array_equal(lists.of(stranger).index, want_idx)
    assert not lists.knows(stranger)


def test_a_platform_filter_slices_the_list_or_asks_for_full_scoring(model: BaseRecommender) -> None:
    lists = RankedLists(model, depth=DEPTH, max_entries=3 * DEPTH)
    user = int(model.users_.ids[5])
    wide = np.zeros(N_ITEMS, dtype=bool)
    wide[::2] = True                                    # half the catalogue
    found = lists.top(user, 10, wide)
    assert found is not None
    want_idx, want_val = _expected(model, user, 10, model.items_.id_of(np.flatnonzero(wide)))
    np.testing.assert_array_equal(found[0], want_idx)
    np.testing.assert_array_equal(found[1], want_val)
    narrow = np.zeros(N_ITEMS, dtype=bool)
    narrow[lists.of(user).index[-1]] = True             # one candidate, deep in the list
    narrow[np.setdiff1d(np.arange(N_ITEMS), lists.of(user).index)[:3]] = True
    assert lists.top(user, 10, narrow) is None          # the truncated list cannot answer
