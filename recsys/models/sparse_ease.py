"""Sparse EASE: EASE^R solved per item over its strongest co-occurrence neighbours, so that
memory grows with ``n_items * neighbors`` instead of ``n_items ** 2``."""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray
from pydantic import Field
from scipy import sparse
from sklearn.utils.extmath import randomized_svd
from threadpoolctl import threadpool_limits

from recsys.data.interactions import Interactions
from recsys.models.base import BaseRecommender, ModelConfig
from recsys.models.dense_rows import DenseRowsMatrix
from recsys.models.protocol import best_entries
from recsys.models.sizing import DataShape, MemoryEstimate
from recsys.models.storage import load_sparse, save_sparse

#: Bytes of the dense co-occurrence block computed at a time (items x block columns, float32).
BLOCK_BYTES = 256 * 2**20
#: Items whose local systems are solved together (one batched ``inv``).
SOLVE_BATCH = 256


class SparseEASEConfig(ModelConfig):
    """Attributes:
    regularization: the L2 penalty ``lambda`` of EASE^R (added to the Gram diagonal).
    neighbors: the items each item's weights are fitted over (its ``neighbors`` nearest
        movies by co-rating cosine); the model keeps ``n_items * neighbors`` weights.
    dropout: the denoising penalty ``p / (1 - p) * diag(X^T X)`` as in ``ease``.
    rank: rank of the SVD of ``X`` that gives the co-occurrences of neighbour pairs
        outside the kept counts.
    seed: seed of the randomized SVD.
    """

    regularization: float = Field(default=500.0, gt=0.0)
    neighbors: int = Field(default=200, ge=1)
    dropout: float = Field(default=0.0, ge=0.0, lt=1.0)
    rank: int = Field(default=64, ge=1)
    seed: int = 0


def top_cooccurring(x: sparse.csr_matrix, k: int) -> tuple[NDArray[np.int32], NDArray[np.float32]]:
    """For every item, its ``k`` nearest other items by the cosine of their columns of the
    binary matrix ``x`` (co-raters / sqrt(raters x raters)), and their co-occurrence
    counts: ``(n_items, min(k, n_items - 1))`` arrays; ties and zero counts fill the tail.
    ``X^T X`` is computed a block of columns at a time.

    The cosine, not the raw count: the most co-rated movies of any movie are the most
    popular ones, which tell least about it. With the same 200 neighbours sparse EASE came
    within 0.9% / 1.4% of exact EASE^R's NDCG@10 on ML-100K / ml-latest-small by cosine,
    against 1.8% / 2.9% by count (benchmarks/results/sparse_ease.md)."""
    n_items = x.shape[1]
    k = min(k, n_items - 1)
    xt = sparse.csr_matrix(x.T, dtype=np.float32)
    xc = sparse.csc_matrix(x, dtype=np.float32)
    raters = np.diff(xc.indptr).astype(np.float32)
    # a row's own 1 / sqrt(raters) does not change its order: only the columns are scaled
    scale = np.divide(1.0, np.sqrt(raters), out=np.zeros_like(raters), where=raters > 0)
    block = max(1, min(n_items, BLOCK_BYTES // max(4 * n_items, 1)))
    neighbours = np.empty((n_items, k), dtype=np.int32)
    counts = np.empty((n_items, k), dtype=np.float32)
    for lo in range(0, n_items, block):
        hi = min(n_items, lo + block)
        gram = np.asarray((xt @ xc[:, lo:hi]).toarray(), dtype=np.float32).T  # (block, items)
        gram *= scale[None, :]  # in place: a second block-sized array would double the peak
        gram[np.arange(hi - lo), np.arange(lo, hi)] = -1.0  # never its own neighbour
        if k > 0:  # every row has n_items - 1 >= k candidates: exactly k entries each
            _, top, values = best_entries(gram, k)
            top = top.reshape(hi - lo, k)
            neighbours[lo:hi] = top
            # back to whole counts (x is binary): count = cosine term / scale
            with np.errstate(divide="ignore", invalid="ignore"):
                raw = values.reshape(hi - lo, k) / scale[top]
            counts[lo:hi] = np.rint(np.nan_to_num(raw, nan=0.0, posinf=0.0))
    return neighbours, counts


class SparseEASE(BaseRecommender):
    """EASE^R with a sparse weight matrix: for each item ``j`` the closed form is solved on the
    sub-problem of ``j`` and its ``neighbors`` nearest items ``S`` (co-rating cosine):
    ``P = (G[S, S] + Lambda)^-1``, ``B[S, j] = -P[:, j] / P[j, j]`` (zero diagonal). The
    co-occurrences ``G[S, S]`` come from the sparsified Gram matrix (each item's top
    ``neighbors`` counts, symmetrised), never a dense ``n_items x n_items`` matrix.

    This is EASE over a pruned candidate set (the approach of the neighbourhood-restricted
    SLIM/EASE variants), a sparse stand-in for the sparse approximate inverse of SANSA:
    M. Spisak, R. Bartyzal, A. Hoskovec, L. Peska, M. Tuma. Scalable Approximate NonSymmetric
    Autoencoder for Collaborative Filtering. RecSys 2023.
    H. Steck. Embarrassingly Shallow Autoencoders for Sparse Data. WWW 2019.
    """

    name = "sparse_ease"
    config: SparseEASEConfig

    @classmethod
    def estimate_fit_memory(cls, config: ModelConfig, shape: DataShape) -> MemoryEstimate:
        """The co-occurrence block, the kept pairs (keys and counts twice over), one batch of
        local systems, the SVD factors and the sparse rating matrices."""
        assert isinstance(config, SparseEASEConfig)
        k = min(config.neighbors, max(shape.n_items - 1, 0))
        block = min(BLOCK_BYTES * 3, shape.n_items**2 * 12)
        pairs = shape.n_items * k * 2 * 16 * 2
        systems = SOLVE_BATCH * k * k * 8 * 4
        factors = (shape.n_items + shape.n_users) * config.rank * 8 * 3
        return MemoryEstimate(block + pairs + systems + factors + shape.nnz * 12 * 4,
                              f"sparse EASE ({k} neighbours of {shape.n_items:,} items)")

    def _fit(self, data: Interactions) -> None:
        x = self.seen_
        n_items = x.shape[1]
        neighbours, counts = top_cooccurring(x, self.config.neighbors)
        k = neighbours.shape[1]
        if k == 0:
            self._use_weights(sparse.csr_matrix((n_items, n_items)))
            return
        diagonal = np.asarray(x.sum(axis=0), dtype=np.float64).ravel()
        # the kept pairs (either item among the other's top `neighbors`), as sorted keys
        rows = np.repeat(np.arange(n_items, dtype=np.int64), k)
        cols = neighbours.ravel().astype(np.int64)
        keys = np.concatenate([rows * n_items + cols, cols * n_items + rows])
        values = np.concatenate([counts.ravel(), counts.ravel()]).astype(np.float64)
        keys, first = np.unique(keys, return_index=True)
        values = values[first]
        del rows, cols, first
        fill = self._low_rank(x)
        p = self.config.dropout
        penalty = diagonal + self.config.regularization + p / (1.0 - p) * diagonal
        # each item's neighbours in ascending order: a batch's pair keys then come sorted
        # within each item, which makes the look-up cache-friendly (2.6x faster measured)
        order = np.argsort(neighbours, axis=1)
        neighbours = np.take_along_axis(neighbours, order, axis=1)
        counts = np.take_along_axis(counts, order, axis=1)
        weight_vals = np.empty((n_items, k), dtype=np.float64)
        idx = np.arange(k)
        # many small systems: OpenBLAS threads only add contention (10x slower measured)
        with threadpool_limits(1):
            for lo in range(0, n_items, SOLVE_BATCH):
                sets = neighbours[lo:lo + SOLVE_BATCH].astype(np.int64)
                query = (sets[:, :, None] * n_items + sets[:, None, :]).ravel()
                pos = np.minimum(np.searchsorted(keys, query), max(len(keys) - 1, 0))
                found = keys[pos] == query if len(keys) else np.zeros(query.size, dtype=bool)
                # co-occurrences outside the kept pairs come from a low-rank fit of X^T X
                # (a zero there would leave the matrix indefinite and the weights useless)
                factor = fill[sets]
                block = np.matmul(factor, factor.transpose(0, 2, 1)).astype(np.float64).ravel()
                if len(keys):
                    block[found] = values[pos[found]]
                block = block.reshape(len(sets), k, k)
                block[:, idx, idx] = penalty[sets]
                rhs = counts[lo:lo + len(sets)].astype(np.float64)
                weight_vals[lo:lo + len(sets)] = np.linalg.solve(block, rhs[:, :, None])[:, :, 0]
        weight_rows = neighbours.astype(np.int64)
        cols = np.repeat(np.arange(n_items), k)
        weights = sparse.csr_matrix((weight_vals.ravel(), (weight_rows.ravel(), cols)),
                                    shape=(n_items, n_items))
        weights.eliminate_zeros()
        if not np.isfinite(weights.data).all():
            raise FloatingPointError("sparse EASE weights contain NaN/inf: raise `regularization`")
        self._use_weights(weights)

    def _use_weights(self, weights: sparse.csr_matrix) -> None:
        self.weights_: sparse.csr_matrix = weights
        # popular movies are every movie's neighbours: their rows are nearly full
        self._product = DenseRowsMatrix(weights)

    def _low_rank(self, x: sparse.csr_matrix) -> NDArray[np.float32]:
        """Item factors ``V S`` of a rank-``rank`` SVD of ``X``: ``X^T X ~ (V S)(V S)^T``."""
        rank = min(self.config.rank, min(x.shape) - 1)
        if rank < 1:
            return np.zeros((x.shape[1], 1), dtype=np.float32)
        _, sigma, vt = randomized_svd(x, rank, n_iter=4, random_state=self.config.seed)
        return np.asarray((vt.T * sigma).astype(np.float32))

    def _score_users(self, user_index: NDArray[np.int64]) -> NDArray[np.float64]:
        return self._product.left_product(self.seen_[user_index])

    def _score_history(
        self, item_index: NDArray[np.int64], ratings: NDArray[np.float64]
    ) -> NDArray[np.float64]:
        items = np.unique(item_index)
        row = sparse.csr_matrix((np.ones(items.size), items, [0, items.size]),
                                shape=(1, self.weights_.shape[0]))
        return self._product.left_product(row)[0]

    def _item_vectors(self) -> sparse.csr_matrix:
        return sparse.hstack([self.weights_, self.weights_.T]).tocsr()

    def _state(self) -> dict[str, Any]:
        return save_sparse("weights", self.weights_)

    def _set_state(self, arrays: dict[str, Any], folder: object) -> None:
        self._use_weights(load_sparse("weights", arrays))
