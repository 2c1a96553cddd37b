"""RP3beta: popularity-penalised three-step random walks on the rating graph."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray
from pydantic import Field
from scipy import sparse

from recsys.data.interactions import Interactions
from recsys.models.base import BATCH, BaseRecommender, ModelConfig
from recsys.models.storage import load_sparse, save_sparse


class RP3BetaConfig(ModelConfig):
    """Attributes:
    alpha: exponent of the random-walk transition probabilities.
    beta: popularity penalty, the target item's degree to the power ``-beta``.
    neighbours: similar items kept per item (sparse model).
    """

    alpha: float = Field(default=1.0, gt=0.0)
    beta: float = Field(default=0.6, ge=0.0)
    neighbours: int = Field(default=200, ge=1)


class RP3Beta(BaseRecommender):
    """RP3beta: three-step random walks user -> item -> user -> item on the rating graph,
    each item's arrival probability divided by its degree to the power ``beta``.

    B. Paudel, F. Christoffel, C. Newell, A. Bernstein. Updatable, Accurate, Diverse, and
    Scalable Recommendations for Interactive Applications. ACM TiiS 7(1), 2016. A default
    component of the hybrid.
    """

    name = "rp3beta"
    config: RP3BetaConfig

    def _fit(self, data: Interactions) -> None:
        cfg = self.config
        x = self.seen_
        user_degree = np.maximum(np.asarray(x.sum(axis=1)).ravel(), 1.0)
        item_degree = np.maximum(np.asarray(x.sum(axis=0)).ravel(), 1.0)
        user_to_item = sparse.csr_matrix(sparse.diags(1.0 / user_degree) @ x)
        item_to_user = sparse.csr_matrix(sparse.diags(1.0 / item_degree) @ x.T)
        if cfg.alpha != 1.0:
            user_to_item = user_to_item.power(cfg.alpha)
            item_to_user = item_to_user.power(cfg.alpha)
        penalty = item_degree**-cfg.beta
        rows, cols, vals = [], [], []
        n_items = x.shape[1]
        keep = min(cfg.neighbours, max(n_items - 1, 1))
        for start in range(0, n_items, BATCH):
            block = np.asarray((item_to_user[start : start + BATCH] @ user_to_item).toarray())
            block *= penalty[None, :]
            local = np.arange(block.shape[0])
            block[local, start + local] = 0.0
            top = np.argpartition(-block, keep - 1, axis=1)[:, :keep]
            values = np.take_along_axis(block, top, axis=1)
            rows.append(np.repeat(start + local, keep))
            cols.append(top.ravel())
            vals.append(values.ravel())
        weights = sparse.csr_matrix(
            (np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))),
            shape=(n_items, n_items),
        )
        weights.eliminate_zeros()
        self.weights_: sparse.csr_matrix = weights

    def _score_users(self, user_index: NDArray[np.int64]) -> NDArray[np.float64]:
        return np.asarray((self.seen_[user_index] @ self.weights_).toarray())

    def _state(self) -> dict[str, Any]:
        return save_sparse("weights", self.weights_)

    def _set_state(self, arrays: dict[str, Any], folder: Path) -> None:
        self.weights_ = load_sparse("weights", arrays)
