"""Item-based k-nearest-neighbour collaborative filtering with sparse top-N neighbour lists."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import numpy as np
from numpy.typing import NDArray
from pydantic import Field
from scipy import sparse

from recsys.data.interactions import Interactions
from recsys.models.base import BaseRecommender, ModelConfig
from recsys.models.baseline import fit_biases
from recsys.models.protocol import best_entries
from recsys.models.sizing import DataShape, PairsEstimate
from recsys.models.storage import load_sparse, save_sparse

#: Cells of one dense similarity block (rows x all rows), bounding memory to ~32 MB.
BLOCK_CELLS = 1 << 22


def top_n_similarities(
    vectors: sparse.csr_matrix,
    neighbours: int,
    *,
    support: sparse.csr_matrix | None = None,
    min_support: int = 1,
    shrinkage: float = 0.0,
    positive_only: bool = True,
) -> sparse.csr_matrix:
    """Cosine similarity of every row of ``vectors`` to every other, keeping each row's top N.

    Computed in blocks of rows so that memory is O(block x rows + rows x N), never the full
    square matrix.

    Args:
        vectors: one row per entity (CSR); rows are L2-normalised here.
        neighbours: how many neighbours each row keeps.
        support: binary CSR with the same shape whose row products count co-rated entries;
            used for ``min_support`` and ``shrinkage`` (defaults to the pattern of
            ``vectors``).
        min_support: pairs with fewer co-rated entries get similarity 0.
        shrinkage: similarities are multiplied by ``n / (n + shrinkage)`` (Koren 2010).
        positive_only: drop negative similarities (they rarely help top-N).

    Returns:
        ``(rows x rows)`` CSR, row ``i`` holding the top-``N`` similarities of row ``i``
        (self excluded), sorted indices.
    """
    vectors = sparse.csr_matrix(vectors, dtype=np.float64)
    n = vectors.shape[0]
    norms = np.sqrt(np.asarray(vectors.multiply(vectors).sum(axis=1)).ravel())
    inv = np.divide(1.0, norms, out=np.zeros_like(norms), where=norms > 0)
    unit = sparse.csr_matrix(sparse.diags(inv) @ vectors)
    unit_t = unit.T.tocsr()  # the CSR x CSR product: scipy converts any other layout per call
    if support is None:
        support = vectors.copy()
        support.data[:] = 1.0
    support = sparse.csr_matrix(support, dtype=np.float64)
    support_t = support.T.tocsr()
    keep = max(0, min(neighbours, n - 1))
    indptr = [np.zeros(1, dtype=np.int64)]
    cols: list[NDArray[np.int64]] = []
    vals: list[NDArray[np.float64]] = []
    step = max(1, BLOCK_CELLS // max(n, 1))
    for start in range(0, n, step):
        stop = min(start + step, n)
        block = np.asarray((unit[start:stop] @ unit_t).toarray())
        if min_support > 1 or shrinkage > 0:
            counts = np.asarray((support[start:stop] @ support_t).toarray())
            if shrinkage > 0:
                block *= counts / (counts + shrinkage)
            if min_support > 1:
                block[counts < min_support] = 0.0
        block[np.arange(stop - start), np.arange(start, stop)] = 0.0
        if positive_only:
            block[block < 0] = 0.0
        if keep == 0:
            indptr.append(np.full(stop - start, indptr[-1][-1]))
            continue
        strength = block if positive_only else np.abs(block)
        rows, chosen, _ = best_entries(strength, keep, strength > 0)
        order = np.lexsort((chosen, rows))  # CSR wants each row's columns in order
        rows, chosen = rows[order], chosen[order]
        cols.append(chosen)
        vals.append(block[rows, chosen])
        indptr.append(indptr[-1][-1] + np.cumsum(np.bincount(rows, minlength=stop - start)))
    data = np.concatenate(vals) if vals else np.empty(0)
    indices = np.concatenate(cols).astype(np.int32) if cols else np.empty(0, np.int32)
    return sparse.csr_matrix((data, indices, np.concatenate(indptr)), shape=(n, n))


def residual_matrix(
    ratings: sparse.csr_matrix, global_mean: float,
    user_bias: NDArray[np.float64], item_bias: NDArray[np.float64],
) -> sparse.csr_matrix:
    """Ratings minus the baseline ``mu + b_u + b_i`` at the stored entries (same pattern)."""
    coo = ratings.tocoo()
    residual = coo.data - global_mean - user_bias[coo.row] - item_bias[coo.col]
    out = sparse.csr_matrix((residual, (coo.row, coo.col)), shape=ratings.shape)
    out.sort_indices()
    return out


class ItemKNNConfig(ModelConfig):
    """Attributes:
    neighbours: similar items kept per item (the sparse top-N model).
    similarity: ``cosine`` on the raw rating columns, or ``adjusted_cosine`` (ratings minus
        each user's mean, Sarwar et al.) .
    feedback: ranking score aggregates ``binary`` (who rated) or ``rating`` (rating-weighted)
        evidence.
    min_support: fewer co-rating users than this and two items are not neighbours.
    shrinkage: similarity shrinkage ``n / (n + shrinkage)`` by co-rating count.
    normalize: scale each item's neighbour similarities to sum 1 (Deshpande & Karypis).
    user_regularization: bias shrinkage of the rating baseline.
    item_regularization: bias shrinkage of the rating baseline.
    """

    neighbours: int = Field(default=50, ge=1)
    similarity: Literal["cosine", "adjusted_cosine"] = "cosine"
    feedback: Literal["binary", "rating"] = "binary"
    min_support: int = Field(default=1, ge=1)
    shrinkage: float = Field(default=0.0, ge=0.0)
    normalize: bool = False
    user_regularization: float = Field(default=5.0, ge=0.0)
    item_regularization: float = Field(default=3.0, ge=0.0)


class ItemKNN(BaseRecommender):
    """Item-based collaborative filtering: each item keeps its ``N`` most similar items;
    a user's score for an item sums the similarities from the items they rated (weighted by
    the rating when ``feedback="rating"``), and rating predictions are the baseline plus the
    similarity-weighted average of the user's residuals on neighbouring items.

    B. Sarwar, G. Karypis, J. Konstan, J. Riedl. Item-Based Collaborative Filtering
    Recommendation Algorithms. WWW 2001. M. Deshpande, G. Karypis. Item-Based Top-N
    Recommendation Algorithms. ACM TOIS 22(1), 2004. Baseline residuals as in Koren 2010.
    """

    name = "item_knn"
    config: ItemKNNConfig
    predicts_ratings = True

    def _item_columns(self, ratings: sparse.csr_matrix) -> sparse.csr_matrix:
        if self.config.similarity == "cosine":
            return sparse.csr_matrix(ratings.T)
        coo = ratings.tocoo()
        counts = np.bincount(coo.row, minlength=ratings.shape[0])
        sums = np.bincount(coo.row, coo.data, minlength=ratings.shape[0])
        means = np.divide(sums, counts, out=np.zeros_like(sums), where=counts > 0)
        centred = sparse.csr_matrix(
            (coo.data - means[coo.row], (coo.row, coo.col)), shape=ratings.shape
        )
        return sparse.csr_matrix(centred.T)

    @classmethod
    def estimate_fit_pairs(cls, config: ModelConfig, shape: DataShape) -> PairsEstimate:
        return PairsEstimate(shape.n_items**2, f"all-pairs similarity of {shape.n_items:,} movies")

    def _fit(self, data: Interactions) -> None:
        cfg = self.config
        ratings = data.matrix().copy()
        ratings.sort_indices()
        self.ratings_: sparse.csr_matrix = ratings
        sims = top_n_similarities(
            self._item_columns(ratings), cfg.neighbours, support=self.seen_.T.tocsr(),
            min_support=cfg.min_support, shrinkage=cfg.shrinkage,
        )
        if cfg.normalize:
            totals = np.asarray(abs(sims).sum(axis=1)).ravel()
            inv = np.divide(1.0, totals, out=np.zeros_like(totals), where=totals > 0)
            sims = sparse.csr_matrix(sparse.diags(inv) @ sims)
        if not np.isfinite(sims.data).all():
            raise FloatingPointError("item similarities contain NaN/inf")
        self.similarities_: sparse.csr_matrix = sims
        self.user_bias_, self.item_bias_ = fit_biases(
            ratings, self.global_mean_, cfg.user_regularization, cfg.item_regularization, 10
        )
        self.residuals_: sparse.csr_matrix = residual_matrix(
            ratings, self.global_mean_, self.user_bias_, self.item_bias_
        )

    def _evidence(self, rows: sparse.csr_matrix) -> sparse.csr_matrix:
        if self.config.feedback == "binary":
            rows = rows.copy()
            rows.data[:] = 1.0
        return rows

    def _score_users(self, user_index: NDArray[np.int64]) -> NDArray[np.float64]:
        evidence = self._evidence(self.ratings_[user_index])
        return np.asarray((evidence @ self.similarities_).toarray())

    def _score_history(
        self, item_index: NDArray[np.int64], ratings: NDArray[np.float64]
    ) -> NDArray[np.float64]:
        values = np.ones(len(item_index)) if self.config.feedback == "binary" else ratings
        row = sparse.csr_matrix(
            (values, (np.zeros(len(item_index), np.int64), item_index)), shape=(1, self.n_items)
        )
        return np.asarray((row @ self.similarities_).toarray()).ravel()

    def _predict_pairs(
        self, user_index: NDArray[np.int64], item_index: NDArray[np.int64]
    ) -> NDArray[np.float64]:
        base = self.global_mean_ + self.user_bias_[user_index] + self.item_bias_[item_index]
        residuals = self.residuals_[user_index]
        pattern = residuals.copy()
        pattern.data[:] = 1.0
        abs_sims = abs(self.similarities_)
        # row p of (residuals @ S) restricted to column item_index[p]
        sims_cols = self.similarities_[:, item_index].tocsc()
        abs_cols = abs_sims[:, item_index].tocsc()
        num = np.asarray(residuals.multiply(sims_cols.T).sum(axis=1)).ravel()
        den = np.asarray(pattern.multiply(abs_cols.T).sum(axis=1)).ravel()
        adjust = np.divide(num, den, out=np.zeros_like(num), where=den > 0)
        return base + adjust

    def _item_vectors(self) -> sparse.csr_matrix:
        return self._item_columns(self.ratings_)

    def _state(self) -> dict[str, Any]:
        return {
            **save_sparse("similarities", self.similarities_),
            **save_sparse("ratings", self.ratings_),
            **save_sparse("residuals", self.residuals_),
            "user_bias": self.user_bias_,
            "item_bias": self.item_bias_,
        }

    def _set_state(self, arrays: dict[str, Any], folder: Path) -> None:
        self.similarities_ = load_sparse("similarities", arrays)
        self.ratings_ = load_sparse("ratings", arrays)
        self.residuals_ = load_sparse("residuals", arrays)
        self.user_bias_ = arrays["user_bias"]
        self.item_bias_ = arrays["item_bias"]
