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
* the others (popularity, the content models) by each recommended movie's top-``N``
  co-rating cosine neighbours over the training matrix, found the first time the movie is
  recommended and kept: memory grows to at most items x N besides the matrix's column
  structure, and nothing is built at start-up (the whole table took 2 minutes over 62k
  movies).

Only positive contributions count; ties go to the lower item index.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray
from scipy import sparse

from recsys.models.base import BaseRecommender
from recsys.models.ease import EASE
from recsys.models.item_knn import ItemKNN
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
        self._neighbours: LazyNeighbours | None = None
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
                self._neighbours = LazyNeighbours(model.seen_, neighbours)
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
        order = np.argsort(history, kind="stable")
        hist_sorted, weights_sorted = history[order], weights[order]
        out = []
        for item in recommended.tolist():
            sources, strengths = self._sources(item)
            at = np.searchsorted(hist_sorted, sources)
            at[at >= hist_sorted.size] = 0
            hit = hist_sorted[at] == sources
            contrib = strengths[hit] * weights_sorted[at[hit]]
            out.append(_top(sources[hit].astype(np.int64), contrib))
        return out

    def _sources(self, item: int) -> tuple[NDArray[np.int64], NDArray[np.float64]]:
        """The items that can explain ``item`` and their weights (sorted by index)."""
        if self._neighbours is not None:
            return self._neighbours.of(item)
        assert self._columns is not None
        start, stop = self._columns.indptr[item], self._columns.indptr[item + 1]
        return (self._columns.indices[start:stop].astype(np.int64),
                self._columns.data[start:stop])


class LazyNeighbours:
    """Each movie's top-``n`` neighbours by co-rating cosine (``co / sqrt(n_i n_j)`` over the
    binary training matrix ``seen``), computed on the movie's first request and kept.

    Holds ``seen`` (the model's own) and the column structure of it (int32 indices: 0.1 GB
    at 25M ratings); a request counts the co-ratings of a movie from the rows of its raters.
    """

    def __init__(self, seen: sparse.csr_matrix, n: int) -> None:
        self._seen = sparse.csr_matrix(seen)
        pattern = sparse.csr_matrix(
            (np.ones(self._seen.nnz, dtype=np.int8), self._seen.indices, self._seen.indptr),
            shape=self._seen.shape).tocsc()
        self._raters_ptr, self._raters = pattern.indptr, pattern.indices
        self._counts = np.diff(self._raters_ptr).astype(np.float64)
        self._n = n
        # item -> (neighbour indices sorted, cosines); a dict write is atomic, so two
        # threads at worst compute one item twice
        self._found: dict[int, tuple[NDArray[np.int64], NDArray[np.float64]]] = {}

    def __len__(self) -> int:
        return len(self._found)

    def of(self, item: int) -> tuple[NDArray[np.int64], NDArray[np.float64]]:
        found = self._found.get(item)
        if found is None:
            found = self._compute(item)
            self._found[item] = found
        return found

    def _compute(self, item: int) -> tuple[NDArray[np.int64], NDArray[np.float64]]:
        users = self._raters[self._raters_ptr[item]:self._raters_ptr[item + 1]]
        picker = sparse.csr_matrix((np.ones(users.size), users, [0, users.size]),
                                   shape=(1, self._seen.shape[0]))
        co = sparse.csr_matrix(picker @ self._seen)
        candidates = co.indices.astype(np.int64)
        cosine = co.data / np.sqrt(self._counts[item] * self._counts[candidates])
        keep = (candidates != item) & (cosine > 0)
        candidates, cosine = candidates[keep], cosine[keep]
        if candidates.size > self._n:
            # the n largest; among ties, the lower index (lexsort's last key first)
            best = np.lexsort((candidates, -cosine))[:self._n]
            candidates, cosine = candidates[best], cosine[best]
        order = np.argsort(candidates)
        return candidates[order], cosine[order]


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
