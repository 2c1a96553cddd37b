"""Implicit ALS: the contract for the CG and exact solvers."""

from __future__ import annotations

import pytest

from recsys.models import create
from recsys.testing import Checkerboard, RecommenderContract

pytestmark = pytest.mark.model


class TestImplicitALS(RecommenderContract):
    name = "ials"
    params = {"factors": 4, "iterations": 8, "regularization": 0.1}
    quality_floor = 0.8
    history_floor = 0.8


class TestImplicitALSExact(RecommenderContract):
    name = "ials"
    params = {"factors": 4, "iterations": 8, "regularization": 0.1, "cg_steps": 0}
    quality_floor = 0.8


class TestImplicitALSLibrary(RecommenderContract):
    """The same model fitted by the ``implicit`` library's compiled solver (the large
    profile's choice)."""

    name = "ials"
    params = {"factors": 4, "iterations": 8, "regularization": 0.1, "solver": "implicit"}
    quality_floor = 0.8
    history_floor = 0.8


def test_implicit_solver_needs_conjugate_gradient() -> None:
    from pydantic import ValidationError

    from recsys.models.ials import ImplicitALSConfig

    with pytest.raises(ValidationError, match="cg_steps"):
        ImplicitALSConfig(solver="implicit", cg_steps=0)


def test_implicit_solver_runs_without_blas_threads(
    checkerboard: Checkerboard, monkeypatch: pytest.MonkeyPatch
) -> None:
    """implicit checks the BLAS thread pool when its model is created and warns that
    OpenBLAS threads make it up to 10x slower: the model is created inside the limit."""
    import warnings

    import implicit.utils
    from threadpoolctl import threadpool_limits

    monkeypatch.setattr(implicit.utils, "_checked_blas_config", False)
    with threadpool_limits(2, "blas"), warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        create("ials", factors=4, iterations=2, solver="implicit").fit(checkerboard.interactions)
