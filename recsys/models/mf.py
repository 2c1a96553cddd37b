"""Biased matrix factorisation for rating prediction: Bayesian (Gibbs-sampled) or MAP (ALS)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal

import numpy as np
from numpy.typing import NDArray
from pydantic import Field
from scipy import sparse
from scipy.sparse.linalg import LinearOperator, svds
from scipy.stats import wishart

from recsys.data.interactions import Interactions
from recsys.models._rating_blend import neighbourhood_correction, residual_similarities
from recsys.models.base import BaseRecommender, ModelConfig
from recsys.models.baseline import fit_biases
from recsys.models.storage import load_sparse, save_sparse
from recsys.sampling import as_rng

#: Cells of the stacked per-row Gram matrices built at once (bounds memory).
GRAM_CELLS = 1 << 22


def _row_blocks(n_rows: int, width: int) -> Iterator[slice]:
    """Row slices whose ``(rows, width, width)`` Gram stacks stay under ``GRAM_CELLS``."""
    step = max(1, GRAM_CELLS // (width * width))
    for start in range(0, n_rows, step):
        yield slice(start, min(n_rows, start + step))


def _row_systems(
    structure: sparse.csr_matrix, targets: NDArray[np.float64], features: NDArray[np.float64]
) -> Iterator[tuple[slice, NDArray[np.float64], NDArray[np.float64]]]:
    """Per row ``u``: ``(F_u^T F_u, F_u^T y_u)`` where ``F_u`` are the features of its columns.

    The Gram matrices are one sparse product with the columns' outer products (O(nnz d^2)
    without materialising one outer product per rating).
    """
    d = features.shape[1]
    ones = sparse.csr_matrix(
        (np.ones(structure.nnz), structure.indices, structure.indptr), shape=structure.shape
    )
    valued = sparse.csr_matrix((targets, structure.indices, structure.indptr), shape=structure.shape)
    outer = (features[:, :, None] * features[:, None, :]).reshape(len(features), d * d)
    for rows in _row_blocks(structure.shape[0], d):
        gram = np.asarray(ones[rows] @ outer).reshape(-1, d, d)
        rhs = np.asarray(valued[rows] @ features)
        yield rows, gram, rhs


def ridge_rows(
    structure: sparse.csr_matrix,
    targets: NDArray[np.float64],
    features: NDArray[np.float64],
    penalty: NDArray[np.float64],
) -> NDArray[np.float64]:
    """Solve one ridge regression per row: ``(F_u^T F_u + diag(pen_u)) x_u = F_u^T y_u``.

    Args:
        structure: rows x columns CSR; row ``u``'s stored columns index ``features``.
        targets: the regression target of every stored entry, in CSR order.
        features: one feature row per column.
        penalty: ``(rows, d)`` diagonal penalty per row (0 rows of data give ``x_u = 0``).
    """
    d = features.shape[1]
    out = np.zeros((structure.shape[0], d))
    empty = np.diff(structure.indptr) == 0
    for rows, gram, rhs in _row_systems(structure, targets, features):
        gram[:, np.arange(d), np.arange(d)] += penalty[rows]
        gram[empty[rows]] += np.eye(d)
        out[rows] = np.linalg.solve(gram, rhs[:, :, None])[:, :, 0]
    return out


def sample_rows(
    structure: sparse.csr_matrix,
    targets: NDArray[np.float64],
    features: NDArray[np.float64],
    prior_mean: NDArray[np.float64],
    prior_precision: NDArray[np.float64],
    noise_precision: float,
    rng: np.random.Generator,
) -> NDArray[np.float64]:
    """One draw per row from the Gaussian posterior of a Bayesian linear regression.

    Row ``u`` has precision ``Lambda + alpha F_u^T F_u`` and mean
    ``precision^-1 (Lambda m + alpha F_u^T y_u)`` (Salakhutdinov & Mnih 2008, eq. 12-13).
    """
    d = features.shape[1]
    out = np.empty((structure.shape[0], d))
    prior_term = prior_precision @ prior_mean
    for rows, gram, rhs in _row_systems(structure, targets, features):
        precision = noise_precision * gram + prior_precision[None]
        mean = np.linalg.solve(precision, (noise_precision * rhs + prior_term)[:, :, None])[:, :, 0]
        chol = np.linalg.cholesky(precision)
        noise = rng.standard_normal((len(mean), d, 1))
        # x = mean + L^-T z has covariance (L L^T)^-1
        out[rows] = mean + np.linalg.solve(np.swapaxes(chol, 1, 2), noise)[:, :, 0]
    return out


def sample_normal_wishart(
    vectors: NDArray[np.float64], rng: np.random.Generator, beta0: float = 2.0
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Draw ``(mean, precision)`` of the rows' Gaussian prior from its Normal-Wishart posterior.

    Hyperprior ``mu_0 = 0``, ``beta_0``, ``W_0 = I``, ``nu_0 = d`` (Salakhutdinov & Mnih 2008,
    eq. 14).
    """
    n, d = vectors.shape
    mean = vectors.mean(axis=0)
    centred = vectors - mean
    scatter = centred.T @ centred
    beta_n = beta0 + n
    inv_scale = np.eye(d) + scatter + (beta0 * n / beta_n) * np.outer(mean, mean)
    scale = np.linalg.inv(inv_scale)
    precision = np.atleast_2d(wishart.rvs(df=d + n, scale=(scale + scale.T) / 2, random_state=rng))
    cov = np.linalg.inv(beta_n * precision)
    draw = rng.multivariate_normal(n * mean / beta_n, (cov + cov.T) / 2)
    return draw, precision


class BiasedMFConfig(ModelConfig):
    """Attributes:
    factors: latent dimensions.
    regularization: L2 penalty on factors of the ALS (MAP) fit, scaled by each user's /
        item's rating count (ALS-WR weighted-lambda).
    bias_regularization: L2 penalty on the biases of the ALS fit, scaled the same way.
    iterations: ALS sweeps (users then items); the MAP fit is the model when
        ``samples == 0`` and the Gibbs sampler's starting point otherwise.
    burn_in: Gibbs sweeps discarded before averaging.
    samples: Gibbs sweeps whose predictions are averaged (0 = plain ALS model).
    noise_precision: the rating noise precision ``alpha``; ``None`` samples it (Gamma(1, 1)
        prior).
    stored_rank: rank of the averaged user-item interaction kept after sampling (the
        average of ``samples`` rank-``factors`` products, compressed by a truncated SVD).
    neighbours: rated items interpolated by the residual neighbourhood correction (0 = off).
    neighbourhood_weight: weight of that correction in the rating prediction (0.3 was the
        best on a validation split carved from the ML-100K ms-stratified training ratings).
    similarity_shrinkage: support shrinkage of the residual item-item similarities.
    kept_similarities: residual similarities stored per item.
    clip: clip rating predictions to the training rating range.
    ranking: what ``recommend`` ranks by: ``"rating"`` (the predicted rating, which puts
        rarely-rated items with lucky estimates on top) or ``"support"`` (the predicted
        rating above the scale's floor times the item's training rating count: a good
        prediction backed by many ratings wins).
    init_scale: standard deviation of the initial item factors.
    seed: randomness of the initial factors and of the sampler.
    """

    factors: int = Field(default=10, ge=1)
    regularization: float = Field(default=0.1, ge=0.0)
    bias_regularization: float = Field(default=0.02, ge=0.0)
    iterations: int = Field(default=10, ge=1)
    burn_in: int = Field(default=50, ge=0)
    samples: int = Field(default=200, ge=0)
    noise_precision: float | None = Field(default=None, gt=0.0)
    stored_rank: int = Field(default=100, ge=1)
    neighbours: int = Field(default=20, ge=0)
    neighbourhood_weight: float = Field(default=0.3, ge=0.0)
    similarity_shrinkage: float = Field(default=100.0, ge=0.0)
    kept_similarities: int = Field(default=200, ge=1)
    clip: bool = True
    ranking: Literal["rating", "support"] = "support"
    init_scale: float = Field(default=0.1, gt=0.0)
    seed: int | None = 42


class BiasedMF(BaseRecommender):
    """Biased matrix factorisation ``r = mu + b_u + b_i + p_u . q_i`` for rating prediction.

    By default fully Bayesian: a Gibbs sampler draws factors and biases (a bias is one more
    latent dimension against a constant feature) under Normal-Wishart hyperpriors, and the
    predictions of ``samples`` draws after ``burn_in`` are averaged (R. Salakhutdinov,
    A. Mnih. Bayesian Probabilistic Matrix Factorization using Markov Chain Monte Carlo.
    ICML 2008). The sampler starts from the MAP fit by alternating ridge regressions with
    count-weighted regularisation (Y. Zhou, D. Wilkinson, R. Schreiber, R. Pan. Large-Scale
    Parallel Collaborative Filtering for the Netflix Prize. AAIM 2008), which is the model
    itself when ``samples == 0``. Biased model: Y. Koren, R. Bell, C. Volinsky. Matrix
    Factorization Techniques for Recommender Systems. IEEE Computer 42(8), 2009.
    Rating predictions add ``neighbourhood_weight`` times an item-item interpolation of the
    user's training residuals (Y. Koren. Factorization Meets the Neighborhood. KDD 2008).

    Fitted attributes:
        user_factors_, item_factors_: factors of the averaged interaction (``stored_rank``
            columns after sampling, ``factors`` for the ALS-only model).
        user_bias_, item_bias_: averaged biases.
        item_support_: training ratings per item (for the ``"support"`` ranking).
        rating_range_: ``[min, max]`` training rating (for clipping).
        residuals_: users x items CSR of training residuals of the factor model.
        similarities_: items x items CSR of shrunk residual similarities.
    """

    name = "mf"
    config: BiasedMFConfig
    predicts_ratings = True

    # -- fitting -------------------------------------------------------------------------
    def _fit(self, data: Interactions) -> None:
        cfg = self.config
        ratings = data.matrix().copy()
        ratings.sort_indices()
        by_item = ratings.T.tocsr()
        by_item.sort_indices()
        rng = as_rng(cfg.seed)
        users, items, user_bias, item_bias = self._fit_als(ratings, by_item, rng)
        if cfg.samples > 0:
            users, items, user_bias, item_bias = self._fit_gibbs(
                ratings, by_item, rng, users, items, user_bias, item_bias
            )
        arrays = (users, items, user_bias, item_bias)
        if not all(np.isfinite(a).all() for a in arrays):
            raise FloatingPointError("MF factors contain NaN/inf: raise `regularization`")
        self.user_factors_: NDArray[np.float64] = users
        self.item_factors_: NDArray[np.float64] = items
        self.user_bias_: NDArray[np.float64] = user_bias
        self.item_bias_: NDArray[np.float64] = item_bias
        self.item_support_: NDArray[np.float64] = np.diff(by_item.indptr).astype(np.float64)
        self.rating_range_: NDArray[np.float64] = np.array(
            [ratings.data.min(), ratings.data.max()], dtype=np.float64
        )
        self._fit_neighbourhood(ratings)

    def _fit_neighbourhood(self, ratings: sparse.csr_matrix) -> None:
        cfg = self.config
        n_users, n_items = ratings.shape
        if cfg.neighbours == 0 or cfg.neighbourhood_weight == 0.0:
            self.residuals_: sparse.csr_matrix = sparse.csr_matrix((n_users, n_items))
            self.similarities_: sparse.csr_matrix = sparse.csr_matrix((n_items, n_items))
            return
        rows = np.repeat(np.arange(n_users), np.diff(ratings.indptr))
        residual = ratings.data - self._factor_pairs(rows, ratings.indices)
        self.residuals_ = sparse.csr_matrix(
            (residual, ratings.indices, ratings.indptr), shape=ratings.shape
        )
        self.similarities_ = residual_similarities(
            self.residuals_, cfg.similarity_shrinkage, cfg.kept_similarities
        )

    def _fit_als(
        self, ratings: sparse.csr_matrix, by_item: sparse.csr_matrix, rng: np.random.Generator
    ) -> tuple[NDArray[np.float64], ...]:
        cfg = self.config
        n_users, n_items = ratings.shape
        d = cfg.factors
        _, item_bias = fit_biases(ratings, self.global_mean_, 5.0, 3.0, 5)
        users = np.zeros((n_users, d))
        user_bias = np.zeros(n_users)
        items = rng.normal(0.0, cfg.init_scale, (n_items, d))
        user_counts = np.diff(ratings.indptr).astype(np.float64)
        item_counts = np.diff(by_item.indptr).astype(np.float64)
        pen = np.r_[np.full(d, cfg.regularization), cfg.bias_regularization]
        for _ in range(cfg.iterations):
            # users: features [q_i, 1], target r - mu - b_i
            target = ratings.data - self.global_mean_ - item_bias[ratings.indices]
            sol = ridge_rows(
                ratings, target, np.c_[items, np.ones(n_items)], user_counts[:, None] * pen
            )
            users, user_bias = sol[:, :d], sol[:, d]
            target = by_item.data - self.global_mean_ - user_bias[by_item.indices]
            sol = ridge_rows(
                by_item, target, np.c_[users, np.ones(n_users)], item_counts[:, None] * pen
            )
            items, item_bias = sol[:, :d], sol[:, d]
        return users, items, user_bias, item_bias

    def _fit_gibbs(
        self,
        ratings: sparse.csr_matrix,
        by_item: sparse.csr_matrix,
        rng: np.random.Generator,
        users: NDArray[np.float64],
        items: NDArray[np.float64],
        user_bias: NDArray[np.float64],
        item_bias: NDArray[np.float64],
    ) -> tuple[NDArray[np.float64], ...]:
        cfg = self.config
        n_users, n_items = ratings.shape
        d = cfg.factors
        mu = self.global_mean_
        # latent rows [p_u, b_u] and [q_i, b_i]; the other side's features are [q_i, 1], [p_u, 1]
        user_rows = np.c_[users, user_bias]
        item_rows = np.c_[items, item_bias]
        rating_users = np.repeat(np.arange(n_users), np.diff(ratings.indptr))
        alpha = 2.0 if cfg.noise_precision is None else cfg.noise_precision
        kept_users: list[NDArray[np.float64]] = []
        kept_items: list[NDArray[np.float64]] = []
        user_bias_sum = np.zeros(n_users)
        item_bias_sum = np.zeros(n_items)
        for sweep in range(cfg.burn_in + cfg.samples):
            prior_mean, prior_precision = sample_normal_wishart(item_rows, rng)
            item_rows = sample_rows(
                by_item, by_item.data - mu - user_rows[by_item.indices, d],
                np.c_[user_rows[:, :d], np.ones(n_users)], prior_mean, prior_precision, alpha, rng,
            )
            prior_mean, prior_precision = sample_normal_wishart(user_rows, rng)
            user_rows = sample_rows(
                ratings, ratings.data - mu - item_rows[ratings.indices, d],
                np.c_[item_rows[:, :d], np.ones(n_items)], prior_mean, prior_precision, alpha, rng,
            )
            if cfg.noise_precision is None:
                fitted = (
                    mu + user_rows[rating_users, d] + item_rows[ratings.indices, d]
                    + np.einsum("ij,ij->i", user_rows[rating_users, :d], item_rows[ratings.indices, :d])
                )
                squared_error = float(((ratings.data - fitted) ** 2).sum())
                alpha = rng.gamma(1.0 + ratings.nnz / 2.0, 1.0 / (1.0 + squared_error / 2.0))
            if sweep >= cfg.burn_in:
                kept_users.append(user_rows[:, :d].copy())
                kept_items.append(item_rows[:, :d].copy())
                user_bias_sum += user_rows[:, d]
                item_bias_sum += item_rows[:, d]
        user_factors, item_factors = self._compress(
            np.hstack(kept_users), np.hstack(kept_items), rng
        )
        return user_factors, item_factors, user_bias_sum / cfg.samples, item_bias_sum / cfg.samples

    def _compress(
        self, users: NDArray[np.float64], items: NDArray[np.float64], rng: np.random.Generator
    ) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        """Rank-``stored_rank`` factors of ``users @ items.T / samples`` (the mean interaction).

        A truncated SVD of the implicit product, so the dense user x item matrix is never
        built.
        """
        scale = 1.0 / self.config.samples
        rank = min(self.config.stored_rank, users.shape[1], min(users.shape[0], items.shape[0]) - 1)
        if rank < 1 or rank >= users.shape[1]:
            return users * scale, items
        operator = LinearOperator(
            (users.shape[0], items.shape[0]),
            matvec=lambda x: users @ (items.T @ x) * scale,
            rmatvec=lambda y: items @ (users.T @ y) * scale,
            matmat=lambda x: users @ (items.T @ x) * scale,
            rmatmat=lambda y: items @ (users.T @ y) * scale,
            dtype=np.float64,
        )
        v0 = rng.uniform(-1.0, 1.0, min(operator.shape))
        u, s, vt = svds(operator, k=rank, v0=v0)
        root = np.sqrt(s)
        return u * root, vt.T * root

    # -- scoring -------------------------------------------------------------------------
    def _predict_block(self, user_index: NDArray[np.int64]) -> NDArray[np.float64]:
        block = (
            self.global_mean_ + self.user_bias_[user_index, None] + self.item_bias_[None, :]
            + self.user_factors_[user_index] @ self.item_factors_.T
        )
        return self._clip(block)

    def _clip(self, predictions: NDArray[np.float64]) -> NDArray[np.float64]:
        if not self.config.clip:
            return predictions
        return np.clip(predictions, self.rating_range_[0], self.rating_range_[1])

    def _rank_scores(self, predictions: NDArray[np.float64]) -> NDArray[np.float64]:
        """Ranking scores from predicted ratings (see ``BiasedMFConfig.ranking``)."""
        if self.config.ranking == "rating":
            return predictions
        # on ML-100K ms-stratified: NDCG@10 0.26 against 0.14 for the bare predicted rating
        return (predictions - self.rating_range_[0]) * self.item_support_[None, :]

    def _score_users(self, user_index: NDArray[np.int64]) -> NDArray[np.float64]:
        return self._rank_scores(self._predict_block(user_index))

    def _factor_pairs(
        self, user_index: NDArray[np.int64], item_index: NDArray[np.int64]
    ) -> NDArray[np.float64]:
        dots = np.einsum(
            "ij,ij->i", self.user_factors_[user_index], self.item_factors_[item_index]
        )
        return self.global_mean_ + self.user_bias_[user_index] + self.item_bias_[item_index] + dots

    def _predict_pairs(
        self, user_index: NDArray[np.int64], item_index: NDArray[np.int64]
    ) -> NDArray[np.float64]:
        predictions = self._factor_pairs(user_index, item_index)
        if self.similarities_.nnz and self.config.neighbours > 0:
            predictions = predictions + self.config.neighbourhood_weight * neighbourhood_correction(
                self.residuals_, self.similarities_, user_index, item_index, self.config.neighbours
            )
        return self._clip(predictions)

    def _score_history(
        self, item_index: NDArray[np.int64], ratings: NDArray[np.float64]
    ) -> NDArray[np.float64]:
        cfg = self.config
        rank = self.item_factors_.shape[1]
        features = np.c_[self.item_factors_[item_index], np.ones(len(item_index))]
        target = ratings - self.global_mean_ - self.item_bias_[item_index]
        pen = len(item_index) * np.r_[np.full(rank, cfg.regularization), cfg.bias_regularization]
        sol = np.linalg.solve(features.T @ features + np.diag(pen + 1e-9), features.T @ target)
        predictions = self._clip(
            self.global_mean_ + sol[-1] + self.item_bias_ + self.item_factors_ @ sol[:-1]
        )
        return self._rank_scores(predictions[None, :])[0]

    def _item_vectors(self) -> NDArray[np.float64]:
        return self.item_factors_

    # -- persistence ---------------------------------------------------------------------
    def _state(self) -> dict[str, Any]:
        return {
            "user_factors": self.user_factors_, "item_factors": self.item_factors_,
            "user_bias": self.user_bias_, "item_bias": self.item_bias_,
            "item_support": self.item_support_, "rating_range": self.rating_range_,
            **save_sparse("residuals", self.residuals_),
            **save_sparse("similarities", self.similarities_),
        }

    def _set_state(self, arrays: dict[str, Any], folder: Path) -> None:
        self.user_factors_ = arrays["user_factors"]
        self.item_factors_ = arrays["item_factors"]
        self.user_bias_ = arrays["user_bias"]
        self.item_bias_ = arrays["item_bias"]
        self.item_support_ = arrays["item_support"]
        self.rating_range_ = arrays["rating_range"]
        self.residuals_ = load_sparse("residuals", arrays)
        self.similarities_ = load_sparse("similarities", arrays)
