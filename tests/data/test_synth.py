"""``movierec data synth``: ML-25M's file format with MovieLens-like structure."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from typer.testing import CliRunner

from movierec.cli import app
from recsys.data.synth import ML25M_ITEMS, ML25M_USERS, SynthConfig, write_synthetic

pytestmark = pytest.mark.data

runner = CliRunner()


@pytest.fixture(scope="module")
def synth_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("synth") / "s30k"
    result = runner.invoke(app, ["data", "synth", "--ratings", "30000", "--users", "500",
                                 "--items", "3000", "--seed", "3", "--out", str(out)])
    assert result.exit_code == 0, result.output
    return out


def test_files_in_ml25m_format(synth_dir: Path) -> None:
    heads = {name: (synth_dir / name).read_text().splitlines()[0]
             for name in ("ratings.csv", "movies.csv", "links.csv", "tags.csv")}
    assert heads == {"ratings.csv": "userId,movieId,rating,timestamp",
                     "movies.csv": "movieId,title,genres",
                     "links.csv": "movieId,imdbId,tmdbId",
                     "tags.csv": "userId,movieId,tag,timestamp"}
    assert "synthetic" in (synth_dir / "README.txt").read_text().lower()
    # ratings are written as GroupLens writes them: one decimal ("4.0", "3.5")
    first = (synth_dir / "ratings.csv").read_text().splitlines()[1].split(",")
    assert len(first[2].split(".")[1]) == 1


def test_shape_and_structure(synth_dir: Path) -> None:
    ratings = pd.read_csv(synth_dir / "ratings.csv")
    movies = pd.read_csv(synth_dir / "movies.csv")
    assert len(ratings) == 30_000
    assert ratings["userId"].nunique() == 500
    assert set(ratings["movieId"]) <= set(movies["movieId"])
    assert len(movies) == 3_000
    assert not ratings.duplicated(["userId", "movieId"]).any()
    per_user = ratings.groupby("userId").size()
    assert per_user.min() >= 20
    # log-normal activity: a long right tail
    assert per_user.max() > 3 * per_user.median()
    assert set(ratings["rating"].unique()) <= {x / 2 for x in range(1, 11)}
    assert {3.5, 4.0} <= set(ratings["rating"].unique())
    assert 3.2 < ratings["rating"].mean() < 3.8
    # power-law popularity: the top 10% of movies hold most ratings (ml-latest-small: 60%)
    counts = ratings.groupby("movieId").size().sort_values(ascending=False)
    assert counts.iloc[: len(counts) // 10].sum() / len(ratings) > 0.45
    # sittings: a user's consecutive ratings are mostly minutes apart, the span years
    stamps = ratings.sort_values(["userId", "timestamp"]).groupby("userId")["timestamp"]
    gaps = stamps.diff().dropna()
    assert (gaps < 3_600).mean() > 0.5
    assert (gaps > 86_400).any()


def test_collaborative_signal_beats_popularity(synth_dir: Path) -> None:
    """A CF model (closed-form EASE) finds a held-out movie clearly more often than
    popularity: the generator picks movies by taste as well as popularity."""
    ratings = pd.read_csv(synth_dir / "ratings.csv")
    users = ratings["userId"].astype("category").cat.codes.to_numpy()
    items = ratings["movieId"].astype("category").cat.codes.to_numpy()
    order = np.random.default_rng(0).permutation(len(ratings))
    held = pd.Series(order).groupby(users[order]).first().to_numpy()
    train = np.ones(len(ratings), dtype=bool)
    train[held] = False
    x = sp.csr_matrix((np.ones(train.sum()), (users[train], items[train])),
                      shape=(users.max() + 1, items.max() + 1))
    gram = (x.T @ x).toarray() + 200.0 * np.eye(x.shape[1])
    inverse = np.linalg.inv(gram)
    weights = -inverse / np.diag(inverse)
    np.fill_diagonal(weights, 0.0)
    seen = x.toarray() > 0

    def hit_rate(scores: np.ndarray) -> float:
        top = np.argsort(-np.where(seen, -np.inf, scores), axis=1)[:, :20]
        return float(np.mean([items[h] in top[users[h]] for h in held]))

    popularity = np.broadcast_to(np.asarray(x.sum(axis=0)).ravel(), x.shape)
    assert hit_rate(np.asarray(x @ weights)) > 1.25 * hit_rate(popularity)


def test_same_seed_same_files(tmp_path: Path) -> None:
    config = SynthConfig(n_ratings=5_000, n_users=100, n_items=400, seed=7)
    write_synthetic(tmp_path / "a", config)
    write_synthetic(tmp_path / "b", config)
    assert (tmp_path / "a" / "ratings.csv").read_bytes() == (tmp_path / "b" / "ratings.csv").read_bytes()
    write_synthetic(tmp_path / "c", SynthConfig(n_ratings=5_000, n_users=100, n_items=400, seed=8))
    assert (tmp_path / "a" / "ratings.csv").read_bytes() != (tmp_path / "c" / "ratings.csv").read_bytes()


def test_defaults_are_ml25m_shape() -> None:
    config = SynthConfig()
    assert (config.n_ratings, config.users(), config.items()) == (25_000_095, ML25M_USERS, ML25M_ITEMS)


def test_impossible_shape_is_a_clean_error(tmp_path: Path) -> None:
    result = runner.invoke(app, ["data", "synth", "--ratings", "1000", "--users", "100",
                                 "--out", str(tmp_path / "x")])
    assert result.exit_code != 0
    assert "20 ratings each" in " ".join(result.output.split())
    assert not (tmp_path / "x").exists()
