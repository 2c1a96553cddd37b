"""EASE^R: a closed-form, item-item linear autoencoder for top-N recommendation."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import numpy as np
from numpy.typing import NDArray
from pydantic import Field, model_validator
from scipy import sparse

from recsys.data.interactions import Interactions
from recsys.models.base import (
    BaseRecommender,
    ModelConfig,
    load_sparse,
    require_dense,
    save_sparse,
)


class EASEConfig(ModelConfig):
    """Attributes:
    regularization: the L2 penalty ``lambda`` added to the Gram matrix diagonal.
    feedback: ``binary`` learns from who rated what (best for ranking); ``rating`` from the
        rating values.
    dropout: denoising penalty ``p / (1 - p) * diag(X^T X)`` added to the diagonal: the
        closed form of training with input dropout at rate ``p`` (Steck 2020); 0 gives
        plain EASE.
    diagonal: ``zero`` constrains each item's weight on itself to 0 while fitting
        (EASE^R; with ``dropout`` > 0 this is EDLAE); ``free`` lets the ridge regression fit
        it and zeroes it afterwards (DLAE), which needs ``dropout`` > 0 to stop the model
        from learning the identity.
    """

    regularization: float = Field(default=500.0, gt=0.0)
    feedback: Literal["binary", "rating"] = "binary"
    dropout: float = Field(default=0.0, ge=0.0, lt=1.0)
    diagonal: Literal["zero", "free"] = "zero"

    @model_validator(mode="after")
    def _free_needs_dropout(self) -> EASEConfig:
        if self.diagonal == "free" and self.dropout == 0.0:
            raise ValueError(
                "diagonal='free' needs dropout > 0 (e.g. 0.5); without it the weights "
                "learn to copy each item onto itself"
            )
        return self


class EASE(BaseRecommender):
    """Embarrassingly Shallow Autoencoder: ``B = I - P / diag(P)`` with
    ``P = (X^T X + Lambda)^-1`` and a zero diagonal, scores ``X_u B``; with
    ``diagonal="free"``, ``B = (X^T X + Lambda)^-1 X^T X`` (DLAE).

    H. Steck. Embarrassingly Shallow Autoencoders for Sparse Data. WWW 2019.
    H. Steck. Autoencoders that don't overfit towards the Identity. NeurIPS 2020 (the
    dropout penalty ``Lambda = lambda I + p / (1 - p) diag(X^T X)`` and DLAE).
    The dense ``n_items x n_items`` weight matrix is the model (items, never users).
    On ML-100K ``ms-stratified`` (split seeds 42 / 1 / 7 / 3), DLAE with
    ``regularization=500, dropout=0.5`` (chosen on a validation split carved from the
    training data of seed 42) scores NDCG@10 0.4833 / 0.4862 / 0.4923 / 0.4921 against
    0.4795 / 0.4810 / 0.4895 / 0.4868 for the default EASE^R.
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
        n_items = x.shape[1]
        require_dense(n_items, n_items, 3, f"{self.name} on {n_items:,} items")
        gram = np.asarray((rows.T @ rows).toarray(), dtype=np.float64)
        diagonal = np.diag(gram).copy()
        p = self.config.dropout
        penalty = self.config.regularization + p / (1.0 - p) * diagonal
        weights: NDArray[np.float64]
        if self.config.diagonal == "free":
            regularised = gram.copy()
            regularised[np.diag_indices_from(regularised)] += penalty
            weights = np.asarray(np.linalg.solve(regularised, gram), dtype=np.float64)
        else:
            gram[np.diag_indices_from(gram)] += penalty
            precision = np.linalg.inv(gram)
            weights = np.asarray(precision / (-np.diag(precision)), dtype=np.float64)
        weights[np.diag_indices_from(weights)] = 0.0
        if not np.isfinite(weights).all():
            raise FloatingPointError("EASE weights contain NaN/inf: raise `regularization`")
        self.weights_ = weights

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

