"""Content-based recommender: TF-IDF user profiles, cosine similarity, release-year bonus."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import numpy as np
from numpy.typing import NDArray
from pydantic import Field
from scipy import sparse
from sklearn.preprocessing import normalize

from recsys.data.interactions import Interactions
from recsys.models.base import BaseRecommender
from recsys.models.features import (
    ContentFeatureConfig,
    ItemFeatures,
    build_item_features,
    weighted_mean_years,
    year_affinity,
)
from recsys.models.storage import load_sparse, save_sparse

Weighting = Literal["mean_centred", "rating", "binary"]


class ContentTFIDFConfig(ContentFeatureConfig):
    """Attributes:
    weighting: how a rated movie's vector enters the user profile. ``rating`` (default)
        uses the raw rating as the weight: every watched movie pulls the profile, liked
        ones more. ``mean_centred`` uses ``rating - user's mean rating`` (movies rated below
        the user's own average push the profile away, Pazzani & Billsus 2007); ``binary``
        weighs every rated movie 1. NDCG@10 on ML-100K (ms-stratified): rating 0.067,
        binary 0.065, mean_centred 0.060; top-N lists reward what users choose to watch,
        which centring discards. A profile whose weights are all zero (a visitor who rated
        everything the same under ``mean_centred``) falls back to ``binary``.
    year_weight: weight of the release-year proximity bonus added to the cosine score.
    year_width: width (years) of the Gaussian kernel on ``|year - user's mean rated year|``.
    """

    weighting: Weighting = "rating"
    year_weight: float = Field(default=1.0, ge=0.0)
    year_width: float = Field(default=5.0, gt=0.0)


def profile_weights(ratings: sparse.csr_matrix, weighting: Weighting) -> sparse.csr_matrix:
    """Per-row weights of rated items for the user profiles (same sparsity as ``ratings``).

    Rows whose weights are all zero under ``mean_centred`` fall back to binary weights.
    """
    weights = sparse.csr_matrix(ratings, dtype=np.float64, copy=True)
    if weighting == "binary":
        weights.data = np.ones_like(weights.data)
    elif weighting == "mean_centred":
        counts = np.diff(weights.indptr)
        sums = np.asarray(weights.sum(axis=1)).ravel()
        means = np.divide(sums, counts, out=np.zeros_like(sums), where=counts > 0)
        weights.data = weights.data - np.repeat(means, counts)
        magnitude = np.asarray(abs(weights).sum(axis=1)).ravel()
        flat = np.repeat((magnitude <= 1e-12) & (counts > 0), counts)
        weights.data[flat] = 1.0
    return weights


def build_profiles(weights: sparse.csr_matrix, item_matrix: sparse.csr_matrix) -> sparse.csr_matrix:
    """L2-normalised weighted mean of item vectors per row of ``weights`` (sparse)."""
    profiles = sparse.csr_matrix(weights @ item_matrix)
    return sparse.csr_matrix(normalize(profiles, norm="l2", axis=1))


class ContentTFIDF(BaseRecommender):
    """Content-based filtering with TF-IDF item vectors and a user profile vector.

    A user's profile is the weighted mean of the TF-IDF vectors of the movies they rated
    (weights per ``weighting``); a movie's score is the cosine of its vector with the
    profile, plus ``year_weight`` times a Gaussian release-year proximity to the user's
    mean rated year. Needs only item metadata, so it scores movies nobody has rated and
    folds in new users from a few ratings (``recommend_for_history``): the cold-start
    workhorse of the hybrid.

    References: M. J. Pazzani and D. Billsus, "Content-Based Recommendation Systems",
    The Adaptive Web, LNCS 4321, 2007; P. Lops, M. de Gemmis, G. Semeraro, "Content-based
    Recommender Systems: State of the Art and Trends", Recommender Systems Handbook, 2011.

    Fitted attributes:
        features_: the item feature matrix and release years.
        profiles_: ``(n_users, n_features)`` CSR user profiles (rows L2-normalised).
        user_years_: mean release year of each user's rated movies (NaN if none dated).
    """

    name = "content_tfidf"
    config: ContentTFIDFConfig

    def _fit(self, data: Interactions) -> None:
        self.features_: ItemFeatures = build_item_features(
            data.item_features, data.items, self.config
        )
        weights = profile_weights(data.matrix(), self.config.weighting)
        self.profiles_: sparse.csr_matrix = build_profiles(weights, self.features_.matrix)
        self.user_years_: NDArray[np.float64] = weighted_mean_years(weights, self.features_.years)

    def _scores(
        self, profiles: sparse.csr_matrix, centres: NDArray[np.float64]
    ) -> NDArray[np.float64]:
        scores = np.asarray((profiles @ self.features_.matrix.T).toarray(), dtype=np.float64)
        if self.config.year_weight > 0:
            scores += self.config.year_weight * year_affinity(
                self.features_.years, centres, self.config.year_width
            )
        return scores

    def _score_users(self, user_index: NDArray[np.int64]) -> NDArray[np.float64]:
        return self._scores(self.profiles_[user_index], self.user_years_[user_index])

    def _history_weights(
        self, item_index: NDArray[np.int64], ratings: NDArray[np.float64]
    ) -> sparse.csr_matrix:
        row = sparse.csr_matrix(
            (
                np.asarray(ratings, dtype=np.float64),
                (np.zeros(len(item_index), dtype=np.int64), item_index),
            ),
            shape=(1, self.n_items),
        )
        row.sum_duplicates()
        return profile_weights(row, self.config.weighting)

    def _score_history(
        self, item_index: NDArray[np.int64], ratings: NDArray[np.float64]
    ) -> NDArray[np.float64]:
        weights = self._history_weights(item_index, ratings)
        profile = build_profiles(weights, self.features_.matrix)
        centre = weighted_mean_years(weights, self.features_.years)
        return self._scores(profile, centre)[0]

    def _item_vectors(self) -> sparse.csr_matrix:
        return self.features_.matrix

    def _state(self) -> dict[str, Any]:
        return {
            **self.features_.state(),
            **save_sparse("profiles", self.profiles_),
            "user_years": self.user_years_,
        }

    def _set_state(self, arrays: dict[str, Any], folder: Path) -> None:
        self.features_ = ItemFeatures.from_state(arrays)
        self.profiles_ = load_sparse("profiles", arrays)
        self.user_years_ = arrays["user_years"].astype(np.float64)
