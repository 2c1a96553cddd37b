"""``because``: the movies of a user's history that contributed most to a recommendation.

Item-item models score ``s_i = sum_j x_j W[j, i]`` over the history ``x``, so the
contribution of history movie ``j`` to recommendation ``i`` is exactly ``x_j W[j, i]``:
EASE (dense ``W``, users scored from ``user_matrix_``), sparse EASE (sparse ``W``, users
scored from their seen movies) and ItemKNN (sparse top-N similarities, users scored from
their rating evidence) are explained exactly. Any other
model is explained by item similarity, with the history entered as ones:

* a model with dense item vectors of at most ``MAX_VECTOR_DIM`` dimensions (SVD, iALS, MF,
  NCF, the autoencoder) by their cosine in its own item space, computed per request between
  the recommended movies and the history (nothing built at start-up: a table over 62k
  movies took 2 minutes);
* the others (popularity, the content models) by a sparse top-``N`` cosine between the
  items' columns of the training matrix (memory O(items x N), built in row blocks, so sized
  for 60k+ movies).

Only positive contributions count; ties go to the lower item index.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray
from scipy import sparse

from recsys.models.base import BaseRecommender
from recsys.models.ease import EASE
from recsys.models.item_knn import ItemKNN, top_n_similarities
from recsys.models.similarity import unit_rows
from recsys.models.sparse_ease import SparseEASE

#: History movies named per recommendation.
MAX_BECAUSE = 3
#: Neighbours kept per item by the similarity fallback.
FALLBACK_NEIGHBOURS = 50
#: Widest item vectors compared per request (wider ones use the similarity table).
MAX_VECTOR_DIM = 1024


class Explainer:
    """Picks the ``because`` movies of recommendations for one model.

    Attributes:
        exact: whether contributions are the model's own (item-item models).
    """

    def __init__(self, model: BaseRecommender, neighbours: int = FALLBACK_NEIGHBOURS) -> None:

        self.exact = True
        self._dense: NDArray[np.float64] | None = None
        self._columns: sparse.csr_matrix | None = None  # row i: the items j with W[j, i]
        self._unit: NDArray[np.float64] | None = None  # unit-length item vectors
        if isinstance(model, EASE):
            self._rows = sparse.csr_matrix(model.user_matrix_)
            self._dense = np.asarray(model.weights_)
        elif isinstance(model, ItemKNN):
            self._rows = sparse.csr_matrix(model._evidence(model.ratings_))
            self._columns = sparse.csr_matrix(model.similarities_.T)
        elif isinstance(model, SparseEASE):
            self._rows = sparse.csr_matrix(model.seen_, dtype=np.float64)
            self._columns = sparse.csr_matrix(model.weights_.T)
        else:
            self.exact = False
            self._rows = sparse.csr_matrix(model.seen_, dtype=np.float64)
            self._unit = _unit_rows(model._item_vectors())
            if self._unit is None:
                sims = top_n_similarities(sparse.csr_matrix(model.seen_.T, dtype=np.float64),
                                          neighbours)
                self._columns = sparse.csr_matrix(sims.T)
        self._rows.sort_indices()

    def history(self, user_index: int) -> tuple[NDArray[np.int64], NDArray[np.float64]]:
        """A known user's history as the model scores it: (item indices, weights)."""
        start, stop = self._rows.indptr[user_index], self._rows.indptr[user_index + 1]
        values = self._rows.data[start:stop]
        if not self.exact:
            values = np.ones_like(values)
        return self._rows.indices[start:stop].astype(np.int64), values

    def because(self, history: NDArray[np.int64], weights: NDArray[np.float64],
                recommended: NDArray[np.int64]) -> list[list[int]]:
        """For each recommended item index, up to ``MAX_BECAUSE`` history item indices,
        largest positive contribution first."""
        if history.size == 0 or recommended.size == 0:
            return [[] for _ in range(recommended.size)]
        if self._dense is not None or self._unit is not None:
            order = np.argsort(history, kind="stable")
            history, weights = history[order], weights[order]
            if self._dense is not None:
                contrib = self._dense[np.ix_(history, recommended)] * weights[:, None]
            else:
                assert self._unit is not None
                contrib = self._unit[history] @ self._unit[recommended].T
            # per column, the largest first; a stable sort keeps the lower item index first
            # among ties, as history is sorted
            best = np.argsort(-contrib, axis=0, kind="stable")[:MAX_BECAUSE]
            values = np.take_along_axis(contrib, best, axis=0)
            chosen = history[best]
            return [[int(i) for i, v in zip(chosen[:, r], values[:, r], strict=True) if v > 0]
                    for r in range(recommended.size)]
        assert self._columns is not None
        order = np.argsort(history, kind="stable")
        hist_sorted, weights_sorted = history[order], weights[order]
        out = []
        cols = self._columns
        for item in recommended.tolist():
            start, stop = cols.indptr[item], cols.indptr[item + 1]
            sources = cols.indices[start:stop]
            at = np.searchsorted(hist_sorted, sources)
            at[at >= hist_sorted.size] = 0
            hit = hist_sorted[at] == sources
            contrib = cols.data[start:stop][hit] * weights_sorted[at[hit]]
            out.append(_top(sources[hit].astype(np.int64), contrib))
        return out


def _top(candidates: NDArray[np.int64], contrib: NDArray[np.float64]) -> list[int]:
    positive = contrib > 0
    if not positive.any():
        return []
    cands, vals = candidates[positive], contrib[positive]
    order = np.lexsort((cands, -vals))[:MAX_BECAUSE]
    return [int(i) for i in cands[order]]


def _unit_rows(vectors: object) -> NDArray[np.float64] | None:
    """``vectors`` scaled to unit length when they are dense and at most ``MAX_VECTOR_DIM``
    wide; ``None`` otherwise."""
    if not isinstance(vectors, np.ndarray) or vectors.ndim != 2:
        return None
    if not 0 < vectors.shape[1] <= MAX_VECTOR_DIM:
        return None
    return unit_rows(vectors)
