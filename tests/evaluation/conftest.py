"""Fixtures of the evaluation tests: the ML-100K ``ms-stratified`` split."""

from __future__ import annotations

import pandas as pd
import pytest

from recsys.evaluation.splits import Split, split_ratings


@pytest.fixture(scope="session")
def ml100k_split(ml100k: tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]) -> Split:
    """The ``ms-stratified`` split (seed 42) of ML-100K."""
    return split_ratings(ml100k[0], "ms-stratified", seed=42)
