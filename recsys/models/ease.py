"""EASE^R: a closed-form, item-item linear autoencoder for top-N recommendation."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import numpy as np
from numpy.typing import NDArray
from pydantic import Field
from scipy import sparse

from recsys.data.interactions import Interactions
from recsys.models.base import BaseRecommender, ModelConfig, load_sparse, save_sparse


class EASEConfig(ModelConfig):
    """Attributes:
    regularization: the L2 penalty ``lambda`` added to the Gram matrix diagonal.
    feedback: ``binary`` learns from who rated what (best for ranking); ``rating`` from the
        rating values.
    dropout: emphasised-denoising penalty ``p / (1 - p) * diag(X^T X)`` added to the
        diagonal (EDLAE, Steck 2020); 0 gives plain EASE.
    """

    regularization: float = Field(default=500.0, gt=0.0)
    feedback: Literal["binary", "rating"] = "binary"
    dropout: float = Field(default=0.0, ge=0.0, lt=1.0)


class EASE(BaseRecommender):
    """Embarrassingly Shallow Autoencoder: ``B = I - P / diag(P)`` with
    ``P = (X^T X + lambda I)^-1`` and a zero diagonal, scores ``X_u B``.

    H. Steck. Embarrassingly Shallow Autoencoders for Sparse Data. WWW 2019.
    The dense ``n_items x n_items`` weight matrix is the model (items, never users).
    """

    name = "ease"
    Config = EASEConfig
    config: EASEConfig

    def _input(self, data: Interactions) -> sparse.csr_matrix:
        if self.config.feedback == "binary":
            return self.seen_
        return data.matrix().astype(np.float64)

    def _gram_rows(self, data: Interactions, x: sparse.csr_matrix) -> sparse.csr_matrix:
        """The rows whose item co-occurrences the weights learn from: the users' rows."""
        return x

    def _fit(self, data: Interactions) -> None:
        x = self._input(data)
        self.user_matrix_: sparse.csr_matrix = sparse.csr_matrix(x, dtype=np.float64)
        rows = self._gram_rows(data, x)
        gram = np.asarray((rows.T @ rows).toarray(), dtype=np.float64)
        diagonal = np.diag(gram).copy()
        p = self.config.dropout
        gram[np.diag_indices_from(gram)] += self.config.regularization + p / (1.0 - p) * diagonal
        precision = np.linalg.inv(gram)
        weights = precision / (-np.diag(precision))
        weights[np.diag_indices_from(weights)] = 0.0
        if not np.isfinite(weights).all():
            raise FloatingPointError("EASE weights contain NaN/inf: raise `regularization`")
        self.weights_: NDArray[np.float64] = weights

    def _score_users(self, user_index: NDArray[np.int64]) -> NDArray[np.float64]:
        return np.asarray(self.user_matrix_[user_index] @ self.weights_)

    def _score_history(
        self, item_index: NDArray[np.int64], ratings: NDArray[np.float64]
    ) -> NDArray[np.float64]:
        values = np.ones(len(item_index)) if self.config.feedback == "binary" else ratings
        row = np.zeros(self.weights_.shape[0])
        np.add.at(row, item_index, values)
        return row @ self.weights_

    def _item_vectors(self) -> NDArray[np.float64]:
        # an item is described by the items it predicts and is predicted by
        return np.hstack([self.weights_, self.weights_.T])

    def _state(self) -> dict[str, Any]:
        state: dict[str, Any] = {"weights": self.weights_}
        if self.config.feedback == "rating":
            state.update(save_sparse("user_matrix", self.user_matrix_))
        return state

    def _set_state(self, arrays: dict[str, Any], folder: Path) -> None:
        self.weights_ = arrays["weights"]
        self.user_matrix_ = (
            load_sparse("user_matrix", arrays) if self.config.feedback == "rating" else self.seen_
        )

