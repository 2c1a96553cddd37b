"""Implicit ALS: weighted matrix factorisation of who-watched-what with rating confidence."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import numpy as np
from numpy.typing import NDArray
from pydantic import Field, model_validator
from scipy import sparse
from threadpoolctl import threadpool_limits

from recsys.data.interactions import Interactions
from recsys.models.base import BaseRecommender, ModelConfig
from recsys.sampling import as_rng


class ImplicitALSConfig(ModelConfig):
    """Attributes:
    factors: latent dimensions.
    regularization: L2 penalty ``lambda`` on both factor matrices.
    alpha: confidence slope, ``c_ui = 1 + alpha * r_ui``.
    confidence_from: ``rating`` uses the rating value as ``r_ui``; ``binary`` uses 1.
    iterations: alternating sweeps (users then items).
    cg_steps: conjugate-gradient steps per sweep, warm-started (Takacs et al. 2011); 0
        solves each least-squares problem exactly.
    seed: randomness of the initial factors.
    solver: ``numpy``, this module's vectorised solver, or ``implicit``, the same model
        fitted by the ``implicit`` library's compiled conjugate-gradient ALS (10x less CPU
        at 1M ratings, NDCG@10 within noise on real data: benchmarks/results/scale.md).
        ``implicit`` needs ``cg_steps > 0``.
    """

    factors: int = Field(default=64, ge=1)
    regularization: float = Field(default=20.0, ge=0.0)
    alpha: float = Field(default=0.5, ge=0.0)
    confidence_from: Literal["rating", "binary"] = "rating"
    iterations: int = Field(default=10, ge=1)
    cg_steps: int = Field(default=3, ge=0)
    seed: int | None = 42
    solver: Literal["numpy", "implicit"] = "numpy"

    @model_validator(mode="after")
    def _implicit_uses_cg(self) -> ImplicitALSConfig:
        if self.solver == "implicit" and self.cg_steps == 0:
            raise ValueError("solver='implicit' runs conjugate gradient: cg_steps must be > 0")
        return self


#: Above this density, entry-wise dot products come from dense BLAS blocks rather than
#: gathers of factor rows (both O(nnz d) memory; the blocks are far faster on dense data).
DENSE_BLOCK_DENSITY = 0.01
#: Cells per dense block (bounds memory to a few tens of MB).
BLOCK_CELLS = 1 << 22


def stored_dots(
    structure: sparse.csr_matrix, left: NDArray[np.float64], right: NDArray[np.float64]
) -> NDArray[np.float64]:
    """``left_u . right_i`` for every stored entry ``(u, i)`` of ``structure``, in CSR order."""
    n_rows, n_cols = structure.shape
    counts = np.diff(structure.indptr)
    if structure.nnz > DENSE_BLOCK_DENSITY * n_rows * n_cols:
        out = np.empty(structure.nnz)
        step = max(1, BLOCK_CELLS // max(n_cols, 1))
        for start in range(0, n_rows, step):
            stop = min(start + step, n_rows)
            lo, hi = structure.indptr[start], structure.indptr[stop]
            block = left[start:stop] @ right.T
            local = np.repeat(np.arange(stop - start), counts[start:stop])
            out[lo:hi] = block[local, structure.indices[lo:hi]]
        return out
    rows = np.repeat(np.arange(n_rows), counts)
    return np.einsum("ij,ij->i", left[rows], right[structure.indices])


def _weighted_product(
    structure: sparse.csr_matrix, weights: NDArray[np.float64],
    left: NDArray[np.float64], right: NDArray[np.float64],
) -> NDArray[np.float64]:
    """``sum_i w_ui (left_u . right_i) right_i`` over each row's stored entries."""
    dots = stored_dots(structure, left, right)
    mat = sparse.csr_matrix(
        (dots * weights, structure.indices, structure.indptr), shape=structure.shape
    )
    return np.asarray(mat @ right)


def als_step(
    confidence: sparse.csr_matrix,
    fixed: NDArray[np.float64],
    current: NDArray[np.float64],
    regularization: float,
    cg_steps: int,
) -> NDArray[np.float64]:
    """One half-sweep: the rows of the solved side given the ``fixed`` side (Hu et al. eq. 4).

    Every row solves ``(F^T F + F^T (C_u - I) F + lambda I) x_u = F^T C_u p_u``, all rows
    together by vectorised conjugate gradient (or exactly when ``cg_steps == 0``).

    Args:
        confidence: rows x fixed-side CSR of confidences ``c_ui`` (``p_ui = 1`` where stored).
        fixed: the other side's factors.
        current: the solved side's factors (the warm start).
    """
    d = fixed.shape[1]
    gram = fixed.T @ fixed + regularization * np.eye(d)
    extra = confidence.data - 1.0
    rhs = np.asarray(confidence @ fixed)
    if cg_steps == 0:
        out = np.zeros_like(current)
        for row in range(confidence.shape[0]):
            lo, hi = confidence.indptr[row], confidence.indptr[row + 1]
            if lo == hi:
                continue
            f = fixed[confidence.indices[lo:hi]]
            a = gram + (f.T * extra[lo:hi]) @ f
            out[row] = np.linalg.solve(a, rhs[row])
        return out

    def apply(x: NDArray[np.float64]) -> NDArray[np.float64]:
        return x @ gram + _weighted_product(confidence, extra, x, fixed)

    x = current.copy()
    residual = rhs - apply(x)
    direction = residual.copy()
    rs_old = np.einsum("ij,ij->i", residual, residual)
    for _ in range(cg_steps):
        a_dir = apply(direction)
        denom = np.einsum("ij,ij->i", direction, a_dir)
        with np.errstate(divide="ignore", invalid="ignore"):
            step = np.where(denom > 0, rs_old / denom, 0.0)
        x += step[:, None] * direction
        residual -= step[:, None] * a_dir
        rs_new = np.einsum("ij,ij->i", residual, residual)
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = np.where(rs_old > 0, rs_new / rs_old, 0.0)
        direction = residual + ratio[:, None] * direction
        rs_old = rs_new
    return x


def _implicit_factors(
    confidence: sparse.csr_matrix, cfg: ImplicitALSConfig
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """User and item factors from ``implicit``'s CPU ALS on the same confidences ``c_ui``
    (``implicit`` reads each stored value as the whole confidence, so ``alpha=1``)."""
    from implicit.cpu.als import AlternatingLeastSquares  # compiled; only this solver needs it

    # implicit runs its own threads; BLAS threads on top of them only contend (it checks,
    # and warns, when the model is created)
    with threadpool_limits(1, "blas"):
        model = AlternatingLeastSquares(
            factors=cfg.factors, regularization=cfg.regularization, alpha=1.0,
            iterations=cfg.iterations, use_cg=True, calculate_training_loss=False,
            random_state=cfg.seed,
        )
        model.cg_steps = cfg.cg_steps  # an attribute, not a constructor argument, in implicit
        model.fit(sparse.csr_matrix(confidence, dtype=np.float32), show_progress=False)
    return (np.asarray(model.user_factors, dtype=np.float64),
            np.asarray(model.item_factors, dtype=np.float64))


class ImplicitALS(BaseRecommender):
    """Implicit-feedback ALS: every (user, item) cell is a preference ``p_ui`` (1 if rated,
    else 0) weighted by confidence ``c_ui = 1 + alpha * r_ui``; user and item factors are
    solved in turn by weighted least squares (conjugate gradient, as in ``implicit``).

    Y. Hu, Y. Koren, C. Volinsky. Collaborative Filtering for Implicit Feedback Datasets.
    ICDM 2008. Conjugate-gradient solver: G. Takacs, I. Pilaszy, D. Tikk. Applications of
    the Conjugate Gradient Method for Implicit Feedback Collaborative Filtering. RecSys 2011.
    """

    name = "ials"
    config: ImplicitALSConfig

    def _confidence(self, data: Interactions) -> sparse.csr_matrix:
        values = data.matrix() if self.config.confidence_from == "rating" else self.seen_
        conf = sparse.csr_matrix(values, dtype=np.float64, copy=True)
        conf.data = 1.0 + self.config.alpha * conf.data
        conf.sort_indices()
        return conf

    def _fit(self, data: Interactions) -> None:
        cfg = self.config
        conf_users = self._confidence(data)
        if cfg.solver == "implicit":
            users, items = _implicit_factors(conf_users, cfg)
        else:
            users, items = self._numpy_factors(conf_users)
        if not (np.isfinite(users).all() and np.isfinite(items).all()):
            raise FloatingPointError(
                "iALS factors contain NaN/inf: lower `alpha` or raise `regularization`"
            )
        self.user_factors_: NDArray[np.float64] = users
        self.item_factors_: NDArray[np.float64] = items

    def _numpy_factors(
        self, conf_users: sparse.csr_matrix
    ) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        cfg = self.config
        conf_items = conf_users.T.tocsr()
        conf_items.sort_indices()
        rng = as_rng(cfg.seed)
        n_users, n_items = conf_users.shape
        users = rng.normal(0.0, 0.01, (n_users, cfg.factors))
        items = rng.normal(0.0, 0.01, (n_items, cfg.factors))
        for _ in range(cfg.iterations):
            users = als_step(conf_users, items, users, cfg.regularization, cfg.cg_steps)
            items = als_step(conf_items, users, items, cfg.regularization, cfg.cg_steps)
        return users, items

    def _score_users(self, user_index: NDArray[np.int64]) -> NDArray[np.float64]:
        return self.user_factors_[user_index] @ self.item_factors_.T

    def _score_history(
        self, item_index: NDArray[np.int64], ratings: NDArray[np.float64]
    ) -> NDArray[np.float64]:
        cfg = self.config
        values = ratings if cfg.confidence_from == "rating" else np.ones(len(item_index))
        conf = 1.0 + cfg.alpha * values
        f = self.item_factors_[item_index]
        gram = self.item_factors_.T @ self.item_factors_
        a = gram + (f.T * (conf - 1.0)) @ f + cfg.regularization * np.eye(cfg.factors)
        user = np.linalg.solve(a, f.T @ conf)
        return self.item_factors_ @ user

    def _item_vectors(self) -> NDArray[np.float64]:
        return self.item_factors_

    def _state(self) -> dict[str, Any]:
        return {"user_factors": self.user_factors_, "item_factors": self.item_factors_}

    def _set_state(self, arrays: dict[str, Any], folder: Path) -> None:
        self.user_factors_ = arrays["user_factors"]
        self.item_factors_ = arrays["item_factors"]
