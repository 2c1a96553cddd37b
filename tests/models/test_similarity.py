"""``ItemSimilarity``: cosine of one item with every item, dense or sparse vectors."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import sparse

from recsys.models.similarity import ItemSimilarity


def _cosine(dense: np.ndarray, item: int) -> np.ndarray:
    norms = np.linalg.norm(dense, axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.nan_to_num(dense @ dense[item] / (norms * norms[item]))


@pytest.mark.parametrize("kind", ["dense", "sparse"])
def test_cosine_of_one_item_with_every_item(kind: str) -> None:
    rng = np.random.default_rng(0)
    dense = rng.normal(size=(50, 30)) * (rng.random((50, 30)) < 0.3)
    dense[7] = 0.0                                   # an item with no features
    vectors = sparse.csr_matrix(dense) if kind == "sparse" else dense
    similarity = ItemSimilarity(vectors)
    for item in (0, 7, 49):
        np.testing.assert_allclose(similarity.of(item), _cosine(dense, item), atol=1e-12)
    assert similarity.of(0)[0] == pytest.approx(1.0)
    assert not similarity.of(7).any()                # similar to nothing, itself included
