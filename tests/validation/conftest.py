"""Fixtures for the validation tests: prepared ml-latest-small and a corruption helper."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def suites_dir() -> Path:
    """The committed suites (``expectations/`` in the project root)."""
    return ROOT / "expectations"


@pytest.fixture(scope="session")
def ml_latest_small_dir(tmp_path_factory: pytest.TempPathFactory, mirror: Path) -> Path:
    """Prepared ml-latest-small tables (Parquet) in a session temp folder."""
    from recsys.data.fetch import fetch
    from recsys.data.prepare import prepare

    if not (mirror / "ml-latest-small" / "ratings.csv").is_file():
        pytest.skip(f"no ml-latest-small in the mirror at {mirror}")
    root = tmp_path_factory.mktemp("ml-latest-small")
    fetch("ml-latest-small", cache_dir=root / "raw", source=mirror)
    prepare("ml-latest-small", raw_dir=root / "raw", out_dir=root / "processed")
    return root / "processed" / "ml-latest-small"


@pytest.fixture()
def ratings_copy(
    ml100k: tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame], tmp_path: Path
) -> Callable[[Callable[[pd.DataFrame], pd.DataFrame]], Path]:
    """Write a corrupted copy of the real ML-100K ratings as CSV in ``tmp_path``.

    Returns a function that takes the corruption (frame -> frame) and returns the CSV path.
    """

    def write(corrupt: Callable[[pd.DataFrame], pd.DataFrame]) -> Path:
        path = tmp_path / "ratings.csv"
        corrupt(ml100k[0].copy()).to_csv(path, index=False)
        return path

    return write
