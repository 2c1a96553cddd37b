"""Preparation: canonical tables with the contract's columns and dtypes; raw untouched."""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd
import pytest

from recsys.data.fetch import fetch, sha256_of
from recsys.data.prepare import prepare, split_title
from recsys.data.schema import RATING_COLUMNS, RATING_DTYPES

pytestmark = pytest.mark.data


@pytest.mark.parametrize(
    ("raw", "title", "year"),
    [("Toy Story (1995)", "Toy Story", 1995), ("Shawshank Redemption, The (1994)",
      "Shawshank Redemption, The", 1994), ("Babylon 5", "Babylon 5", None),
     ("Fawlty Towers (1975-1979)", "Fawlty Towers", 1975)],
)
def test_split_title(raw: str, title: str, year: int | None) -> None:
    assert split_title(raw) == (title, year)


def test_ml100k_tables(ml100k: tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]) -> None:
    ratings, items, users = ml100k
    assert list(ratings.columns) == list(RATING_COLUMNS)
    assert {c: str(t) for c, t in ratings.dtypes.items()} == RATING_DTYPES
    assert (len(ratings), len(items), len(users)) == (100_000, 1_682, 943)
    assert ratings["rating"].between(1, 5).all()
    assert {"title", "year", "genres", "actors", "directors", "writers"} <= set(items.columns)
    toy = items.set_index("item_id").loc[1]
    assert (toy["title"], toy["year"]) == ("Toy Story", 1995)
    assert "Animation" in toy["genres"].split("|")
    assert toy["directors"] != ""
    # latin-1 titles decode to real accents, not mojibake
    assert items["title"].str.contains("é").any()
    assert not items["title"].str.contains("Ã").any()
    assert (items["actors"] != "").mean() > 0.9


def test_recbole_only_source_gives_the_same_ratings(
    tmp_path: Path, mirror: Path, ml100k: tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]
) -> None:
    raw = tmp_path / "raw"
    shutil.copytree(mirror / "ml-100k-recbole", raw / "ml-100k-recbole")
    tables = prepare("ml-100k", raw_dir=raw, out_dir=tmp_path / "out")
    pd.testing.assert_frame_equal(tables.ratings, ml100k[0])
    assert len(tables.items) == 1_682
    assert len(tables.users) == 943


def test_ml_latest_small_and_raw_untouched(tmp_path: Path, mirror: Path) -> None:
    fetch("ml-latest-small", cache_dir=tmp_path / "raw", source=mirror)
    before = {p.name: sha256_of(p) for p in (tmp_path / "raw" / "ml-latest-small").iterdir()}
    tables = prepare("ml-latest-small", raw_dir=tmp_path / "raw", out_dir=tmp_path / "out")
    after = {p.name: sha256_of(p) for p in (tmp_path / "raw" / "ml-latest-small").iterdir()}
    assert before == after
    assert len(tables.ratings) == 100_836
    assert set(tables.ratings["rating"].unique()) <= {x / 2 for x in range(1, 11)}
    items = tables.items.set_index("item_id")
    assert items.loc[1, "imdb_id"] == "tt0114709"
    assert items.loc[1, "tmdb_id"] == 862
    assert "pixar" in items.loc[1, "tags"].split("|")
    for name in ("ratings", "items", "users"):
        assert (tmp_path / "out" / "ml-latest-small" / f"{name}.parquet").is_file()
