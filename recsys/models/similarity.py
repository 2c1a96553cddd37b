"""Cosine similarity of one item to every item over a model's item vectors (``similar_items``).

The unit-length vectors, and for sparse vectors their transpose, are built once per fitted
model. A query is then one product over the query item's own features. Normalising the
whole matrix on every request, as a plain cosine does, took 298 ms (sparse EASE) and 521 ms
(ItemKNN) a request at 62,423 movies.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray
from scipy import sparse


class ItemSimilarity:
    """Cosine similarities over fixed item vectors (rows of ``vectors``).

    Args:
        vectors: ``(n_items, d)`` dense or sparse item vectors; an all-zero vector is
            similar to nothing (cosine 0).
    """

    def __init__(self, vectors: sparse.spmatrix | sparse.sparray | NDArray[np.floating]) -> None:
        if sparse.issparse(vectors):
            matrix = sparse.csr_matrix(vectors, dtype=np.float64)
            norms = np.sqrt(np.asarray(matrix.multiply(matrix).sum(axis=1)).ravel())
            scale = np.divide(1.0, norms, out=np.zeros_like(norms), where=norms > 0)
            self._sparse: sparse.csr_matrix | None = sparse.csr_matrix(
                sparse.diags(scale) @ matrix)
            # row f: the items with feature f, so a query touches only its own features
            self._by_feature = sparse.csr_matrix(self._sparse.T)
            self._dense: NDArray[np.float64] | None = None
        else:
            self._dense = unit_rows(vectors)
            self._sparse = None

    def of(self, item: int) -> NDArray[np.float64]:
        """Cosine of item index ``item`` with every item (itself included)."""
        if self._dense is not None:
            return self._dense @ self._dense[item]
        assert self._sparse is not None
        return np.asarray((self._sparse[item] @ self._by_feature).toarray()).ravel()


def unit_rows(vectors: NDArray[np.floating]) -> NDArray[np.float64]:
    """The rows of dense ``vectors`` scaled to unit length (an all-zero row stays zero)."""
    dense = np.asarray(vectors, dtype=np.float64)
    norms = np.linalg.norm(dense, axis=1, keepdims=True)
    return np.divide(dense, norms, out=np.zeros_like(dense), where=norms > 0)
