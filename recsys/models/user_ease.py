"""User EASE: EASE^R on the transposed matrix (users reconstructed from other users)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray
from pydantic import Field

from recsys.data.interactions import Interactions
from recsys.models.base import BaseRecommender, ModelConfig
from recsys.models.sizing import DataShape, MemoryEstimate, require_dense


class UserEASEConfig(ModelConfig):
    """Attributes:
    regularization: the L2 penalty ``lambda`` on the ``users x users`` Gram diagonal.
    """

    regularization: float = Field(default=600.0, gt=0.0)


class UserEASE(BaseRecommender):
    """EASE^R on the transposed matrix: each user's row is reconstructed from the other
    users' rows by a closed-form ridge regression with a zero diagonal.

    H. Steck. Embarrassingly Shallow Autoencoders for Sparse Data. WWW 2019 (the item
    model; the user-side twin is its transpose, as in the user/item duality of
    neighbourhood methods). The dense ``n_users x n_users`` weights suit catalogues with at
    most a few thousand users; a default component of the hybrid.
    """

    name = "user_ease"
    config: UserEASEConfig

    @classmethod
    def estimate_fit_memory(cls, config: ModelConfig, shape: DataShape) -> MemoryEstimate:
        return MemoryEstimate(3 * shape.n_users**2 * 8,
                              f"dense users x users matrix ({shape.n_users:,} users)")

    def _fit(self, data: Interactions) -> None:
        x = self.seen_
        n_users = x.shape[0]
        require_dense(n_users, n_users, 3, f"user EASE on {n_users:,} users")
        gram = np.asarray((x @ x.T).toarray(), dtype=np.float64)
        gram[np.diag_indices_from(gram)] += self.config.regularization
        precision = np.linalg.inv(gram)
        # column v of ``weights`` reconstructs user v from the others
        weights = precision / (-np.diag(precision))[None, :]
        weights[np.diag_indices_from(weights)] = 0.0
        if not np.isfinite(weights).all():
            raise FloatingPointError("user EASE weights contain NaN/inf: raise `regularization`")
        self.weights_: NDArray[np.float64] = weights

    def _score_users(self, user_index: NDArray[np.int64]) -> NDArray[np.float64]:
        return np.asarray(self.seen_.T @ self.weights_[:, user_index]).T

    def _state(self) -> dict[str, Any]:
        return {"weights": self.weights_}

    def _set_state(self, arrays: dict[str, Any], folder: Path) -> None:
        self.weights_ = arrays["weights"]
