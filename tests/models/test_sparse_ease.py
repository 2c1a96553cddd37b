"""Sparse EASE: the contract, agreement with exact EASE^R, and weights sized by non-zeros."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from recsys.data.interactions import Interactions
from recsys.models import create
from recsys.models.sparse_ease import top_cooccurring
from recsys.testing import RecommenderContract

pytestmark = pytest.mark.model


class TestSparseEASE(RecommenderContract):
    name = "sparse_ease"
    params = {"regularization": 1.0, "neighbors": 4, "rank": 4}
    quality_floor = 1.0
    history_floor = 1.0


def _frame(n_users: int = 300, n_items: int = 60, seed: int = 0) -> pd.DataFrame:
    """Two-block preferences plus popularity: enough structure to tell models apart."""
    rng = np.random.default_rng(seed)
    rows = []
    for user in range(n_users):
        block = user % 3
        pool = np.arange(n_items)[(np.arange(n_items) % 3) == block]
        picks = rng.choice(pool, size=8, replace=False)
        picks = np.union1d(picks, rng.choice(n_items, size=3, replace=False))
        rows += [(user + 1, int(i) + 1, 4.0, 1_000 + j) for j, i in enumerate(picks)]
    return pd.DataFrame(rows, columns=["user_id", "item_id", "rating", "timestamp"])


def test_all_neighbours_is_exact_ease() -> None:
    """With every other item as a neighbour the sub-problems are EASE^R's own columns."""
    data = Interactions.from_frame(_frame())
    exact = create("ease", regularization=20.0).fit(data)
    approx = create("sparse_ease", regularization=20.0, neighbors=1_000).fit(data)
    np.testing.assert_allclose(approx.weights_.toarray(), exact.weights_, atol=1e-8)


def test_few_neighbours_stay_close_and_sparse() -> None:
    data = Interactions.from_frame(_frame())
    exact = create("ease", regularization=20.0).fit(data)
    approx = create("sparse_ease", regularization=20.0, neighbors=20, rank=8).fit(data)
    n_items = data.matrix().shape[1]
    assert approx.weights_.nnz <= n_items * 20
    users = np.arange(50)
    top_exact = np.argsort(-exact._score_users(users), axis=1)[:, :5]
    top_approx = np.argsort(-approx._score_users(users), axis=1)[:, :5]
    overlap = np.mean([len(set(a) & set(b)) / 5 for a, b in zip(top_exact, top_approx, strict=True)])
    assert overlap > 0.8


def test_top_cooccurring_takes_the_nearest_by_cosine_with_their_counts() -> None:
    data = Interactions.from_frame(_frame(n_users=80, n_items=30))
    x = data.matrix()
    x.data[:] = 1.0
    gram = (x.T @ x).toarray()
    raters = np.diag(gram).copy()
    cosine = gram / np.sqrt(np.outer(raters, raters))
    np.fill_diagonal(cosine, -1)
    neighbours, counts = top_cooccurring(x, 5)
    for item in range(x.shape[1]):
        expected = np.sort(cosine[item])[::-1][:5]
        np.testing.assert_allclose(np.sort(cosine[item, neighbours[item]])[::-1], expected,
                                   rtol=1e-6)
        np.testing.assert_array_equal(counts[item], gram[item, neighbours[item]])


def test_a_popular_movie_is_not_everyones_nearest_neighbour() -> None:
    """Movie 1 is rated by everyone, so it is the most co-rated movie of every movie; by
    cosine the movies rated by the same few users come first."""
    rows = [(u, 1) for u in range(1, 101)]                 # everyone rated movie 1
    rows += [(u, 2) for u in range(1, 11)] + [(u, 3) for u in range(1, 11)]  # a niche pair
    rows += [(u, 4 + u % 5) for u in range(11, 101)]       # filler
    frame = pd.DataFrame(rows, columns=["user_id", "item_id"]).assign(rating=4.0, timestamp=0)
    data = Interactions.from_frame(frame)
    x = data.matrix()
    x.data[:] = 1.0
    neighbours, counts = top_cooccurring(x, 1)
    two, three = data.items.index([2, 3])
    assert neighbours[two, 0] == three and counts[two, 0] == 10
