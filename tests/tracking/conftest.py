"""Fixtures for the tracking tests: a small real ML-100K subset, fitted models, a temp MLflow store."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest


@pytest.fixture(scope="session")
def small_split(ml100k: tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]) -> dict[str, pd.DataFrame]:
    """The ratings of the first 300 users, split ms-stratified, with the items table."""
    from recsys.evaluation.splits import split_ratings

    ratings, items, _ = ml100k
    subset = ratings[ratings["user_id"] <= 300].reset_index(drop=True)
    split = split_ratings(subset, seed=7)
    return {"train": split.train, "test": split.test, "items": items}


@pytest.fixture(scope="session")
def fitted(tmp_path_factory: pytest.TempPathFactory, small_split: dict[str, pd.DataFrame]) -> dict[str, dict]:
    """popularity (weak) and ease (strong), fitted and evaluated on the subset, saved."""
    from recsys.evaluation.evaluate import fit_and_evaluate

    root = tmp_path_factory.mktemp("models")
    out: dict[str, dict] = {}
    for name in ("popularity", "ease"):
        model, metrics = fit_and_evaluate(name, {}, small_split["train"], small_split["test"],
                                          small_split["items"], k=10, seed=1)
        folder = model.save(root / name)
        out[name] = {"model": model, "metrics": metrics, "dir": Path(folder)}
    assert out["ease"]["metrics"]["ndcg_at_10"] > out["popularity"]["metrics"]["ndcg_at_10"]
    return out


@pytest.fixture(scope="session")
def tracking_uri(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """One embedded MLflow store (SQLite + artefacts) in a temp folder for the session.

    Creating the store's tables is the slow part, so tests share it and each uses its own
    registered model (``model_name``).
    """
    root = tmp_path_factory.mktemp("mlflow")
    before = Path.cwd()
    os.chdir(root)  # artefacts go to ./mlartifacts
    try:
        yield f"sqlite:///{root / 'mlflow.db'}"
    finally:
        os.chdir(before)


@pytest.fixture()
def model_name(request: pytest.FixtureRequest) -> str:
    """A registered-model name of this test's own."""
    return "movie-recommender-" + request.node.name.replace("_", "-")[:60]
