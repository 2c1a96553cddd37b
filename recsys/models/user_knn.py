"""User-based k-nearest-neighbour collaborative filtering with sparse top-N neighbour lists."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import numpy as np
from numpy.typing import NDArray
from pydantic import Field
from scipy import sparse

from recsys.data.interactions import Interactions
from recsys.models.base import BaseRecommender, ModelConfig
from recsys.models.item_knn import top_n_similarities
from recsys.models.sizing import DataShape, PairsEstimate
from recsys.models.storage import load_sparse, save_sparse


class UserKNNConfig(ModelConfig):
    """Attributes:
    neighbours: most similar users kept per user (the sparse top-N lists).
    similarity: ``cosine`` on raw ratings or ``pearson`` (ratings minus each user's mean).
    min_support: fewer co-rated items than this and two users are not neighbours.
    shrinkage: similarity shrinkage ``n / (n + shrinkage)`` by co-rated count.
    feedback: ranking score sums neighbours' ``binary`` (rated or not) or ``rating``
        (mean-centred rating) evidence, weighted by similarity.
    """

    neighbours: int = Field(default=50, ge=1)
    similarity: Literal["cosine", "pearson"] = "cosine"
    min_support: int = Field(default=1, ge=1)
    shrinkage: float = Field(default=0.0, ge=0.0)
    feedback: Literal["binary", "rating"] = "binary"


class UserKNN(BaseRecommender):
    """User-based collaborative filtering: each user keeps the ``N`` most similar users;
    rating predictions are the user's mean plus the similarity-weighted average of the
    neighbours' mean-centred ratings, and ranking scores the similarity-weighted votes.

    P. Resnick, N. Iacovou, M. Suchak, P. Bergstrom, J. Riedl. GroupLens: An Open
    Architecture for Collaborative Filtering of Netnews. CSCW 1994; J. Herlocker, J. Konstan,
    A. Borchers, J. Riedl. An Algorithmic Framework for Performing Collaborative Filtering.
    SIGIR 1999 (neighbour selection, significance weighting).
    """

    name = "user_knn"
    config: UserKNNConfig
    predicts_ratings = True

    def _centred(self, ratings: sparse.csr_matrix) -> sparse.csr_matrix:
        coo = ratings.tocoo()
        out = sparse.csr_matrix(
            (coo.data - self.user_means_[coo.row], (coo.row, coo.col)), shape=ratings.shape
        )
        out.sort_indices()
        return out

    @classmethod
    def estimate_fit_pairs(cls, config: ModelConfig, shape: DataShape) -> PairsEstimate:
        return PairsEstimate(shape.n_users**2, f"all-pairs similarity of {shape.n_users:,} users")

    def _fit(self, data: Interactions) -> None:
        cfg = self.config
        ratings = data.matrix().copy()
        ratings.sort_indices()
        counts = np.diff(ratings.indptr)
        sums = np.asarray(ratings.sum(axis=1)).ravel()
        self.user_means_: NDArray[np.float64] = np.where(
            counts > 0, sums / np.maximum(counts, 1), self.global_mean_
        )
        self.centred_: sparse.csr_matrix = self._centred(ratings)
        vectors = self.centred_ if cfg.similarity == "pearson" else ratings
        neighbours = top_n_similarities(
            vectors, cfg.neighbours, support=self.seen_,
            min_support=cfg.min_support, shrinkage=cfg.shrinkage,
        )
        if not np.isfinite(neighbours.data).all():
            raise FloatingPointError("user similarities contain NaN/inf")
        self.neighbours_: sparse.csr_matrix = neighbours

    def _votes(self, weights: sparse.csr_matrix) -> NDArray[np.float64]:
        evidence = self.seen_ if self.config.feedback == "binary" else self.centred_
        return np.asarray((weights @ evidence).toarray())

    def _score_users(self, user_index: NDArray[np.int64]) -> NDArray[np.float64]:
        return self._votes(self.neighbours_[user_index])

    def _history_weights(
        self, item_index: NDArray[np.int64], ratings: NDArray[np.float64]
    ) -> tuple[sparse.csr_matrix, float]:
        cfg = self.config
        mean = float(ratings.mean()) if len(ratings) else self.global_mean_
        # a history of equal ratings (e.g. only liked movies) has nothing to centre:
        # Pearson would see no neighbour, so such a visitor is matched by cosine
        pearson = cfg.similarity == "pearson" and len(ratings) > 0 and bool(np.ptp(ratings) > 0)
        values = ratings - mean if pearson else ratings
        row = np.zeros(self.n_items)
        row[item_index] = values
        vectors = self.centred_ if pearson else self.centred_ + sparse.csr_matrix(
            self.seen_.multiply(self.user_means_[:, None])
        )
        norms = np.sqrt(np.asarray(vectors.multiply(vectors).sum(axis=1)).ravel())
        norm = np.linalg.norm(row)
        sims = np.asarray(vectors @ row).ravel()
        sims = np.divide(sims, norms * norm, out=np.zeros_like(sims), where=norms * norm > 0)
        sims[sims < 0] = 0.0
        keep = np.argsort(-sims, kind="stable")[: cfg.neighbours]
        keep = keep[sims[keep] > 0]
        weights = sparse.csr_matrix(
            (sims[keep], (np.zeros(len(keep), np.int64), keep)), shape=(1, len(self.users_))
        )
        return weights, mean

    def _score_history(
        self, item_index: NDArray[np.int64], ratings: NDArray[np.float64]
    ) -> NDArray[np.float64] | None:
        weights, _ = self._history_weights(item_index, ratings)
        if weights.nnz == 0:
            return None  # no user shares the history: the popularity fallback, flagged
        return self._votes(weights)[0]

    def _predict_pairs(
        self, user_index: NDArray[np.int64], item_index: NDArray[np.int64]
    ) -> NDArray[np.float64]:
        weights = self.neighbours_[user_index]
        cols = self.centred_[:, item_index].tocsc()
        pattern = self.seen_[:, item_index].tocsc()
        num = np.asarray(weights.multiply(cols.T).sum(axis=1)).ravel()
        den = np.asarray(abs(weights).multiply(pattern.T).sum(axis=1)).ravel()
        adjust = np.divide(num, den, out=np.zeros_like(num), where=den > 0)
        return self.user_means_[user_index] + adjust

    def _state(self) -> dict[str, Any]:
        return {
            **save_sparse("neighbours", self.neighbours_),
            **save_sparse("centred", self.centred_),
            "user_means": self.user_means_,
        }

    def _set_state(self, arrays: dict[str, Any], folder: Path) -> None:
        self.neighbours_ = load_sparse("neighbours", arrays)
        self.centred_ = load_sparse("centred", arrays)
        self.user_means_ = arrays["user_means"]
