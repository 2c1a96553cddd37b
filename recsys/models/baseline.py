"""Biased baseline: global mean plus regularised user and item biases."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray
from pydantic import Field
from scipy import sparse

from recsys.data.interactions import Interactions
from recsys.models.base import BaseRecommender, ModelConfig


class BiasedBaselineConfig(ModelConfig):
    """Attributes:
    user_regularization: shrinkage of user biases towards 0 (Koren's lambda_3).
    item_regularization: shrinkage of item biases towards 0 (Koren's lambda_2).
    iterations: alternating least-squares sweeps over items then users.
    """

    user_regularization: float = Field(default=5.0, ge=0.0)
    item_regularization: float = Field(default=3.0, ge=0.0)
    iterations: int = Field(default=10, ge=1)


def fit_biases(
    matrix: sparse.csr_matrix,
    global_mean: float,
    user_regularization: float,
    item_regularization: float,
    iterations: int,
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Regularised user and item biases by alternating least squares (Koren 2010, eq. 2).

    Args:
        matrix: users x items ratings (CSR, explicit zeros not stored).
        global_mean: the mean rating ``mu``.

    Returns:
        ``(user_bias, item_bias)``; users or items without ratings get 0.
    """
    coo = matrix.tocoo()
    rows, cols = coo.row, coo.col
    residual = coo.data - global_mean
    n_users, n_items = matrix.shape
    user_counts = np.bincount(rows, minlength=n_users).astype(np.float64)
    item_counts = np.bincount(cols, minlength=n_items).astype(np.float64)
    user_bias = np.zeros(n_users)
    item_bias = np.zeros(n_items)
    with np.errstate(divide="ignore", invalid="ignore"):  # 0/0 is handled below
        for _ in range(iterations):
            item_sum = np.bincount(cols, residual - user_bias[rows], minlength=n_items)
            item_bias = item_sum / (item_regularization + item_counts)
            user_sum = np.bincount(rows, residual - item_bias[cols], minlength=n_users)
            user_bias = user_sum / (user_regularization + user_counts)
    # an item or user with no rating and zero regularisation would be 0/0; only those are
    # zeroed, so a NaN that came from the ratings still reaches the caller's finite check
    item_bias = np.where(item_counts > 0, item_bias, 0.0)
    user_bias = np.where(user_counts > 0, user_bias, 0.0)
    return user_bias, item_bias


def fold_in_user_bias(
    item_index: NDArray[np.int64],
    ratings: NDArray[np.float64],
    global_mean: float,
    item_bias: NDArray[np.float64],
    user_regularization: float,
) -> float:
    """The bias of a new user from a few rated items, items' biases held fixed."""
    residual = ratings - global_mean - item_bias[item_index]
    return float(residual.sum() / (user_regularization + len(item_index)))


class BiasedBaseline(BaseRecommender):
    """Global mean plus regularised user and item biases, ``r = mu + b_u + b_i``, fitted by
    alternating least squares on the biases.

    Y. Koren. Factor in the Neighbors: Scalable and Accurate Collaborative Filtering.
    ACM TKDD 4(1), 2010 (section 2.1, baseline estimates). The rating predictor every other
    model must beat; it ranks every user's items alike (by item bias).
    """

    name = "baseline"
    config: BiasedBaselineConfig
    predicts_ratings = True

    def _fit(self, data: Interactions) -> None:
        cfg = self.config
        self.user_bias_, self.item_bias_ = fit_biases(
            data.matrix(), self.global_mean_, cfg.user_regularization,
            cfg.item_regularization, cfg.iterations,
        )
        if not (np.isfinite(self.user_bias_).all() and np.isfinite(self.item_bias_).all()):
            raise FloatingPointError("baseline biases contain NaN/inf: check the ratings")

    def _score_users(self, user_index: NDArray[np.int64]) -> NDArray[np.float64]:
        return self.global_mean_ + self.user_bias_[user_index, None] + self.item_bias_[None, :]

    def _predict_pairs(
        self, user_index: NDArray[np.int64], item_index: NDArray[np.int64]
    ) -> NDArray[np.float64]:
        return self.global_mean_ + self.user_bias_[user_index] + self.item_bias_[item_index]

    def _score_history(
        self, item_index: NDArray[np.int64], ratings: NDArray[np.float64]
    ) -> NDArray[np.float64]:
        bias = fold_in_user_bias(
            item_index, ratings, self.global_mean_, self.item_bias_,
            self.config.user_regularization,
        )
        return self.global_mean_ + bias + self.item_bias_

    def _state(self) -> dict[str, Any]:
        return {"user_bias": self.user_bias_, "item_bias": self.item_bias_}

    def _set_state(self, arrays: dict[str, Any], folder: Path) -> None:
        self.user_bias_ = arrays["user_bias"]
        self.item_bias_ = arrays["item_bias"]
