"""Truncated SVD of the sparse rating matrix (baseline residuals for ratings, PureSVD for ranking)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray
from pydantic import Field
from scipy import sparse
from scipy.sparse.linalg import svds

from recsys.data.interactions import Interactions
from recsys.models.base import BaseRecommender, ModelConfig
from recsys.models.baseline import fit_biases
from recsys.models.item_knn import residual_matrix
from recsys.sampling import as_rng


class TruncatedSVDConfig(ModelConfig):
    """Attributes:
    factors: singular triplets of the mean-centred (baseline-residual) matrix used for
        rating predictions.
    ranking_factors: singular triplets of the raw rating matrix (missing = 0) used for
        ranking (PureSVD); 0 ranks by predicted rating instead.
    user_regularization: bias shrinkage of the baseline that centres the matrix.
    item_regularization: bias shrinkage of the baseline that centres the matrix.
    seed: start vector of the Lanczos iterations.
    """

    factors: int = Field(default=10, ge=1)
    ranking_factors: int = Field(default=20, ge=0)
    user_regularization: float = Field(default=5.0, ge=0.0)
    item_regularization: float = Field(default=3.0, ge=0.0)
    seed: int | None = 42


def truncated_svd(
    matrix: sparse.csr_matrix, rank: int, seed: int | None
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """``(U * sqrt(s), V * sqrt(s))`` of the best rank-``rank`` approximation (ARPACK)."""
    rank = max(1, min(rank, min(matrix.shape) - 1))
    v0 = as_rng(seed).uniform(-1.0, 1.0, min(matrix.shape))
    u, s, vt = svds(matrix.astype(np.float64), k=rank, v0=v0)
    root = np.sqrt(s)
    users, items = u * root, vt.T * root
    if not (np.isfinite(users).all() and np.isfinite(items).all()):
        raise FloatingPointError("SVD factors contain NaN/inf")
    return users, items


class TruncatedSVDRecommender(BaseRecommender):
    """Truncated singular value decomposition of the sparse rating matrix.

    Rating predictions add the rank-``factors`` reconstruction of the baseline residuals
    (ratings minus ``mu + b_u + b_i``, missing entries 0) to the baseline (B. Sarwar,
    G. Karypis, J. Konstan, J. Riedl. Application of Dimensionality Reduction in Recommender
    Systems. WebKDD 2000). Ranking uses PureSVD, the rank-``ranking_factors`` reconstruction
    of the raw matrix (P. Cremonesi, Y. Koren, R. Turrin. Performance of Recommender
    Algorithms on Top-N Recommendation Tasks. RecSys 2010), which also folds in new users
    as ``r V V^T``.
    """

    name = "svd"
    config: TruncatedSVDConfig
    predicts_ratings = True

    def _fit(self, data: Interactions) -> None:
        cfg = self.config
        ratings = data.matrix()
        self.user_bias_, self.item_bias_ = fit_biases(
            ratings, self.global_mean_, cfg.user_regularization, cfg.item_regularization, 10
        )
        residuals = residual_matrix(ratings, self.global_mean_, self.user_bias_, self.item_bias_)
        self.user_factors_, self.item_factors_ = truncated_svd(residuals, cfg.factors, cfg.seed)
        if cfg.ranking_factors > 0:
            users, items = truncated_svd(ratings, cfg.ranking_factors, cfg.seed)
            self.rank_user_factors_: NDArray[np.float64] = users
            self.rank_item_factors_: NDArray[np.float64] = items
        else:
            self.rank_user_factors_ = np.zeros((len(self.users_), 0))
            self.rank_item_factors_ = np.zeros((len(self.items_), 0))

    def _predict_block(self, user_index: NDArray[np.int64]) -> NDArray[np.float64]:
        return (
            self.global_mean_ + self.user_bias_[user_index, None] + self.item_bias_[None, :]
            + self.user_factors_[user_index] @ self.item_factors_.T
        )

    def _score_users(self, user_index: NDArray[np.int64]) -> NDArray[np.float64]:
        if self.config.ranking_factors == 0:
            return self._predict_block(user_index)
        return self.rank_user_factors_[user_index] @ self.rank_item_factors_.T

    def _predict_pairs(
        self, user_index: NDArray[np.int64], item_index: NDArray[np.int64]
    ) -> NDArray[np.float64]:
        dots = np.einsum(
            "ij,ij->i", self.user_factors_[user_index], self.item_factors_[item_index]
        )
        return self.global_mean_ + self.user_bias_[user_index] + self.item_bias_[item_index] + dots

    def _score_history(
        self, item_index: NDArray[np.int64], ratings: NDArray[np.float64]
    ) -> NDArray[np.float64] | None:
        if self.config.ranking_factors == 0:
            return None
        # V (s^-1/2 s^-1/2) V^T projection: with scaled factors Q = V sqrt(s), r Q diag(1/s) Q^T
        sq = np.einsum("ij,ij->j", self.rank_item_factors_, self.rank_item_factors_)
        inv = np.divide(1.0, sq, out=np.zeros_like(sq), where=sq > 0)
        row = np.zeros(self.n_items)
        row[item_index] = ratings
        return ((row @ self.rank_item_factors_) * inv) @ self.rank_item_factors_.T

    def _item_vectors(self) -> NDArray[np.float64]:
        if self.config.ranking_factors > 0:
            return self.rank_item_factors_
        return self.item_factors_

    def _state(self) -> dict[str, Any]:
        return {
            "user_bias": self.user_bias_, "item_bias": self.item_bias_,
            "user_factors": self.user_factors_, "item_factors": self.item_factors_,
            "rank_user_factors": self.rank_user_factors_,
            "rank_item_factors": self.rank_item_factors_,
        }

    def _set_state(self, arrays: dict[str, Any], folder: Path) -> None:
        self.user_bias_ = arrays["user_bias"]
        self.item_bias_ = arrays["item_bias"]
        self.user_factors_ = arrays["user_factors"]
        self.item_factors_ = arrays["item_factors"]
        self.rank_user_factors_ = arrays["rank_user_factors"]
        self.rank_item_factors_ = arrays["rank_item_factors"]
