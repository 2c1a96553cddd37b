"""``DenseRowsMatrix``: the product of a sparse matrix with its densest rows kept dense."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import sparse

from recsys.models.dense_rows import DenseRowsMatrix


def _weights(rng: np.random.Generator, n: int = 300) -> sparse.csr_matrix:
    """Mostly sparse rows plus a few nearly full ones (popular items' rows)."""
    dense = rng.normal(size=(n, n)) * (rng.random((n, n)) < 0.02)
    full = rng.choice(n, 12, replace=False)
    dense[full] = rng.normal(size=(12, n)) * (rng.random((12, n)) < 0.9)
    return sparse.csr_matrix(dense)


def test_the_product_is_the_sparse_product() -> None:
    rng = np.random.default_rng(0)
    weights = _weights(rng)
    split = DenseRowsMatrix(weights)
    assert 12 <= split.rows.size < 20
    binary = sparse.csr_matrix((rng.random((40, 300)) < 0.1).astype(float))
    rated = sparse.csr_matrix(binary.multiply(rng.integers(1, 6, binary.shape)))
    for x in (binary, rated):
        # the dense rows are summed in float32
        np.testing.assert_allclose(split.left_product(x), (x @ weights).toarray(),
                                   rtol=1e-5, atol=1e-5)


def test_a_users_scores_do_not_depend_on_the_batch() -> None:
    rng = np.random.default_rng(1)
    split = DenseRowsMatrix(_weights(rng))
    x = sparse.csr_matrix((rng.random((30, 300)) < 0.1).astype(float))
    whole = split.left_product(x)
    for row in range(30):
        np.testing.assert_array_equal(split.left_product(x[[row]])[0], whole[row])


@pytest.mark.parametrize("min_fill", [0.0, 1.1])
def test_all_dense_or_all_sparse(min_fill: float) -> None:
    rng = np.random.default_rng(2)
    weights = _weights(rng, 80)
    split = DenseRowsMatrix(weights, min_fill=min_fill)
    filled = int((np.diff(weights.indptr) > 0).sum())   # an empty row is never dense
    assert split.rows.size == (filled if min_fill == 0.0 else 0)
    x = sparse.csr_matrix((rng.random((5, 80)) < 0.3).astype(float))
    np.testing.assert_allclose(split.left_product(x), (x @ weights).toarray(), atol=1e-5)
