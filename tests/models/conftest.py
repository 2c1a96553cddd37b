"""Fixtures of the model tests: the checkerboard of ``recsys.testing`` and a seeded rng."""

from __future__ import annotations

import numpy as np
import pytest

from recsys.testing import Checkerboard, make_checkerboard


@pytest.fixture(scope="session")
def checkerboard() -> Checkerboard:
    return make_checkerboard()


@pytest.fixture(scope="session")
def rng() -> np.random.Generator:
    return np.random.default_rng(42)
