"""Popularity: most-rated or best-rated (damped mean) items; the cold-start fallback."""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
from numpy.typing import NDArray
from pydantic import Field

from recsys.data.interactions import Interactions
from recsys.models.base import BaseRecommender, ModelConfig


class PopularityConfig(ModelConfig):
    """Attributes:
    mode: ``count`` ranks by number of ratings; ``damped_mean`` by the Bayesian mean rating
        ``(sum + damping * global_mean) / (count + damping)``.
    damping: pseudo-count pulling rarely rated items to the global mean; positive, since
        ``count + damping`` must never be 0 (a negative damping gave infinite scores).
    """

    mode: Literal["count", "damped_mean"] = "count"
    damping: float = Field(10.0, gt=0)


class Popularity(BaseRecommender):
    """Non-personalised popularity ranking (LensKit ``PopScorer``; damped mean as in
    Funk's Netflix Prize write-up). Scores every user the same way."""

    name = "popularity"
    config: PopularityConfig

    def _fit(self, data: Interactions) -> None:
        matrix = data.matrix()
        counts = np.diff(matrix.tocsc().indptr).astype(np.float64)
        sums = np.asarray(matrix.sum(axis=0)).ravel()
        if self.config.mode == "count":
            self.item_scores_: NDArray[np.float64] = counts
        else:
            d = self.config.damping
            self.item_scores_ = (sums + d * self.global_mean_) / (counts + d)
        self.fallback_ = self.item_scores_.copy()

    def _score_users(self, user_index: NDArray[np.int64]) -> NDArray[np.float64]:
        return np.tile(self.item_scores_, (len(user_index), 1))

    def _score_history(
        self, item_index: NDArray[np.int64], ratings: NDArray[np.float64]
    ) -> NDArray[np.float64]:
        return self.item_scores_.copy()

    def _state(self) -> dict[str, Any]:
        return {"item_scores": self.item_scores_}

    def _set_state(self, arrays: dict[str, Any], folder: object) -> None:
        self.item_scores_ = arrays["item_scores"]
