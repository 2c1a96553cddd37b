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
