"""Item-based KNN: the contract plus behaviour checks and the sparse top-N lists."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import sparse

from recsys.data.interactions import Interactions
from recsys.models import create
from recsys.models.item_knn import top_n_similarities
from recsys.testing import Checkerboard, RecommenderContract

pytestmark = pytest.mark.model


class TestItemKNN(RecommenderContract):
    name = "item_knn"
    params = {"neighbours": 5}
    quality_floor = 1.0
    history_floor = 1.0


class TestItemKNNRatingWeighted(RecommenderContract):
    name = "item_knn"
    params = {"neighbours": 5, "feedback": "rating", "similarity": "adjusted_cosine",
              "normalize": True, "shrinkage": 1.0}
    quality_floor = 0.5


def test_top_n_keeps_at_most_n_per_row_and_never_self() -> None:
    rng = np.random.default_rng(0)
    vectors = sparse.random(40, 30, density=0.3, random_state=1, format="csr")
    sims = top_n_similarities(vectors, 5)
    assert (np.diff(sims.indptr) <= 5).all()
    assert (sims.diagonal() == 0).all()
    dense = vectors.toarray()
    norms = np.linalg.norm(dense, axis=1)
    full = dense @ dense.T / np.outer(norms, norms).clip(1e-12)
    row = int(rng.integers(40))
    np.fill_diagonal(full, 0.0)
    kept = sims[row].indices
    assert np.allclose(sorted(full[row, kept]), sorted(np.sort(full[row])[-len(kept):]))


@pytest.mark.parametrize("positive_only", [True, False])
def test_top_n_matches_a_dense_sort_over_a_wide_catalogue(positive_only: bool) -> None:
    """Wide enough (4,000 rows, 3 neighbours) for the block bound of the selection."""
    vectors = sparse.random(4_000, 60, density=0.05, random_state=2, format="csr")
    vectors.data -= 0.3  # negative similarities too
    sims = top_n_similarities(vectors, 3, positive_only=positive_only)
    dense = vectors.toarray()
    norms = np.linalg.norm(dense, axis=1).clip(1e-12)
    full = dense @ dense.T / np.outer(norms, norms)
    np.fill_diagonal(full, 0.0)
    if positive_only:
        full[full < 0] = 0.0
    for row in range(0, 4_000, 37):
        strength = np.abs(full[row])
        best = np.sort(strength)[::-1][:3]
        best = best[best > 1e-12]
        kept = sims[row].indices
        # equal similarities may be computed a last bit apart: compare the values kept
        np.testing.assert_allclose(np.sort(strength[kept])[::-1], best, rtol=1e-9)
        np.testing.assert_allclose(sims[row].data, full[row, kept], rtol=1e-9)


def test_predictions_follow_neighbour_ratings(checkerboard: Checkerboard) -> None:
    """Directional: raising a user's ratings of an item's neighbours raises the prediction."""
    ratings = checkerboard.ratings
    user, target = 1, checkerboard.held_out[1]
    lowered = ratings.copy()
    lowered.loc[lowered["user_id"] == user, "rating"] = np.where(
        lowered.loc[lowered["user_id"] == user, "item_id"].isin(checkerboard.block_items[0]), 2.0,
        lowered.loc[lowered["user_id"] == user, "rating"],
    )
    high = create("item_knn", neighbours=5).fit(checkerboard.interactions)
    low = create("item_knn", neighbours=5).fit(Interactions.from_frame(lowered, checkerboard.items))
    assert high.predict([user], [target])[0] > low.predict([user], [target])[0]


def test_similar_items_come_from_the_same_block(checkerboard: Checkerboard) -> None:
    """Minimum functionality: an item's nearest items are its block mates."""
    model = create("item_knn", neighbours=5).fit(checkerboard.interactions)
    for items in checkerboard.block_items.values():
        similar = model.similar_items(items[0], k=4)["item_id"].tolist()
        assert set(similar) == set(items[1:])
