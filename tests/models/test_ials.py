"""Implicit ALS: the contract for the CG and exact solvers."""

from __future__ import annotations

import pytest

from recsys.testing import RecommenderContract

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
