"""Turn raw MovieLens files into the canonical Parquet tables of ``recsys.data.schema``.

``prepare`` reads the raw cache (never writing to it) and writes
``<processed>/<dataset>/{ratings,items,users}.parquet``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from recsys.data.registry import LAYOUT_ML1M, LAYOUT_ML100K, get_spec
from recsys.data.schema import (
    ITEM_ID,
    LIST_SEPARATOR,
    RATING,
    RATING_COLUMNS,
    RATING_DTYPES,
    TIMESTAMP,
    USER_ID,
)

ML100K_GENRES = [
    "unknown", "Action", "Adventure", "Animation", "Children's", "Comedy", "Crime",
    "Documentary", "Drama", "Fantasy", "Film-Noir", "Horror", "Musical", "Mystery",
    "Romance", "Sci-Fi", "Thriller", "War", "Western",
]
#: Knowledge-graph relations (head = film entity) -> item column.
KG_RELATIONS = {
    "film.film.actor": "actors",
    "film.film.directed_by": "directors",
    "film.film.written_by": "writers",
    "film.film.produced_by": "producers",
}
_TITLE_YEAR = re.compile(r"^(?P<title>.*?)\s*\((?P<year>\d{4})(?:[-–]\d{0,4})?\)\s*$")


@dataclass(frozen=True)
class PreparedTables:
    """The canonical tables of one dataset and where they were written."""

    ratings: pd.DataFrame
    items: pd.DataFrame
    users: pd.DataFrame
    folder: Path


def split_title(raw: str) -> tuple[str, int | None]:
    """``"Toy Story (1995)"`` -> ``("Toy Story", 1995)``; a title without a year keeps it None."""
    raw = raw.strip()
    match = _TITLE_YEAR.match(raw)
    if not match:
        return raw, None
    return match.group("title").strip(), int(match.group("year"))


def _join(values: Iterable[str]) -> str:
    return LIST_SEPARATOR.join(sorted({v for v in values if v}))


def canonical_ratings(frame: pd.DataFrame) -> pd.DataFrame:
    """Coerce a ratings frame to the contract's columns and dtypes, sorted by user then time."""
    out = frame.loc[:, list(RATING_COLUMNS)].astype(RATING_DTYPES)
    return out.sort_values([USER_ID, TIMESTAMP, ITEM_ID], kind="stable").reset_index(drop=True)


def _items_frame(rows: pd.DataFrame) -> pd.DataFrame:
    titles = rows["raw_title"].map(split_title)
    items = pd.DataFrame(
        {
            ITEM_ID: rows[ITEM_ID].astype("int64").to_numpy(),
            "title": [t for t, _ in titles],
            "year": pd.array([y for _, y in titles], dtype="Int64"),
            "genres": rows["genres"].astype(str).to_numpy(),
        }
    )
    if "release_year" in rows:
        fallback = pd.Series(rows["release_year"].to_numpy(), index=items.index).astype("Int64")
        items["year"] = items["year"].fillna(fallback)
    return items


def _knowledge_graph(kg_folder: Path) -> pd.DataFrame:
    """Per-item actor/director/writer/producer entity ids from the RecBole Freebase graph."""
    links = pd.read_csv(kg_folder / "ml-100k.link", sep="\t", dtype=str)
    links.columns = [ITEM_ID, "entity"]
    kg = pd.read_csv(kg_folder / "ml-100k.kg", sep="\t", dtype=str)
    kg.columns = ["head", "relation", "tail"]
    kg = kg[kg["relation"].isin(list(KG_RELATIONS))]
    merged = links.merge(kg, left_on="entity", right_on="head")
    merged["column"] = merged["relation"].map(KG_RELATIONS)
    grouped = merged.groupby([ITEM_ID, "column"])["tail"].agg(_join).unstack("column")
    grouped = grouped.reindex(columns=list(KG_RELATIONS.values())).fillna("")
    grouped.index = grouped.index.astype("int64")
    return grouped.reset_index()


def _ml100k(raw: Path, kg: Path | None) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    if (raw / "u.data").is_file():
        ratings = pd.read_csv(raw / "u.data", sep="\t", header=None, names=list(RATING_COLUMNS))
        item_cols = [ITEM_ID, "raw_title", "release_date", "video_date", "imdb_url", *ML100K_GENRES]
        raw_items = pd.read_csv(raw / "u.item", sep="|", header=None, names=item_cols,
                                encoding="latin-1")
        flags = raw_items[ML100K_GENRES].to_numpy(dtype=bool)
        raw_items["genres"] = [
            _join(g for g, on in zip(ML100K_GENRES, row, strict=True) if on and g != "unknown")
            for row in flags
        ]
        dates = pd.to_datetime(raw_items["release_date"], format="%d-%b-%Y", errors="coerce")
        raw_items["release_year"] = dates.dt.year
        items = _items_frame(raw_items)
        users = pd.read_csv(raw / "u.user", sep="|", header=None,
                            names=[USER_ID, "age", "gender", "occupation", "zip_code"],
                            dtype={"zip_code": str})
    elif kg is not None:
        ratings = pd.read_csv(kg / "ml-100k.inter", sep="\t")
        ratings.columns = list(RATING_COLUMNS)
        raw_items = pd.read_csv(kg / "ml-100k.item", sep="\t", dtype=str, keep_default_na=False)
        raw_items.columns = [ITEM_ID, "raw_title", "release_year", "genres"]
        raw_items["release_year"] = pd.to_numeric(raw_items["release_year"], errors="coerce")
        raw_items["genres"] = raw_items["genres"].map(lambda g: _join(g.split()))
        items = _items_frame(raw_items)
        users = pd.read_csv(kg / "ml-100k.user", sep="\t", dtype={"zip_code:token": str})
        users.columns = [USER_ID, "age", "gender", "occupation", "zip_code"]
    else:
        raise FileNotFoundError(f"no ML-100K ratings under {raw} and no RecBole copy")
    if kg is not None and (kg / "ml-100k.kg").is_file():
        items = items.merge(_knowledge_graph(kg), on=ITEM_ID, how="left")
        for column in KG_RELATIONS.values():
            items[column] = items[column].fillna("")
    return ratings, items, users


def _ml_csv(raw: Path) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """ml-latest-small / ml-25m layout (ratings.csv, movies.csv, links.csv, tags.csv)."""
    ratings = pd.read_csv(raw / "ratings.csv")
    ratings.columns = list(RATING_COLUMNS)
    movies = pd.read_csv(raw / "movies.csv", dtype={"title": str, "genres": str})
    movies.columns = [ITEM_ID, "raw_title", "genres"]
    movies["genres"] = movies["genres"].map(
        lambda g: "" if g == "(no genres listed)" else _join(g.split("|"))
    )
    items = _items_frame(movies)
    if (raw / "links.csv").is_file():
        links = pd.read_csv(raw / "links.csv", dtype={"imdbId": str})
        links.columns = [ITEM_ID, "imdb_id", "tmdb_id"]
        links["imdb_id"] = "tt" + links["imdb_id"].str.zfill(7)
        links["tmdb_id"] = links["tmdb_id"].astype("Int64")
        items = items.merge(links, on=ITEM_ID, how="left")
    tags_path = raw / "tags.csv"
    if tags_path.is_file():
        tags = pd.read_csv(tags_path, dtype={"tag": str}).dropna(subset=["tag"])
        tags["tag"] = tags["tag"].str.strip().str.lower().str.replace(LIST_SEPARATOR, " ")
        per_item = tags.groupby("movieId")["tag"].agg(_join).rename("tags")
        per_item.index = per_item.index.astype("int64")
        items = items.merge(per_item, left_on=ITEM_ID, right_index=True, how="left")
        items["tags"] = items["tags"].fillna("")
    users = pd.DataFrame({USER_ID: np.sort(ratings[USER_ID].unique())})
    return ratings, items, users


def _ml1m(raw: Path) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    ratings = pd.read_csv(raw / "ratings.dat", sep="::", engine="python", header=None,
                          names=list(RATING_COLUMNS))
    movies = pd.read_csv(raw / "movies.dat", sep="::", engine="python", header=None,
                         names=[ITEM_ID, "raw_title", "genres"], encoding="latin-1")
    movies["genres"] = movies["genres"].map(lambda g: _join(g.split("|")))
    users = pd.read_csv(raw / "users.dat", sep="::", engine="python", header=None,
                        names=[USER_ID, "gender", "age", "occupation", "zip_code"],
                        dtype={"zip_code": str})
    return ratings, _items_frame(movies), users


def prepare(
    dataset: str = "ml-100k",
    *,
    raw_dir: Path = Path("data/raw"),
    out_dir: Path = Path("data/processed"),
) -> PreparedTables:
    """Write the canonical ratings, items and users tables of ``dataset`` as Parquet."""
    layout = get_spec(dataset).layout
    raw = raw_dir / dataset
    kg = raw_dir / f"{dataset}-recbole"
    if layout == LAYOUT_ML100K:
        ratings, items, users = _ml100k(raw, kg if kg.is_dir() else None)
    elif layout == LAYOUT_ML1M:
        ratings, items, users = _ml1m(raw)
    else:
        ratings, items, users = _ml_csv(raw)
    ratings = canonical_ratings(ratings)
    ratings[RATING] = ratings[RATING].astype("float64")
    items = items.sort_values(ITEM_ID).reset_index(drop=True)
    users = users.sort_values(USER_ID).reset_index(drop=True)
    folder = out_dir / dataset
    folder.mkdir(parents=True, exist_ok=True)
    for name, table in (("ratings", ratings), ("items", items), ("users", users)):
        tmp = folder / f".{name}.parquet.tmp"
        table.to_parquet(tmp, index=False)
        tmp.replace(folder / f"{name}.parquet")
    return PreparedTables(ratings, items, users, folder)


def merge_new_ratings(base: pd.DataFrame, new: pd.DataFrame) -> pd.DataFrame:
    """The training snapshot plus a batch of new ratings, in the contract's form.

    A (user, item) pair rated again keeps its newest rating, as a re-rating on the site would.
    """
    both = pd.concat([canonical_ratings(base), canonical_ratings(new)], ignore_index=True)
    both = both.sort_values(TIMESTAMP, kind="stable").drop_duplicates([USER_ID, ITEM_ID], keep="last")
    return canonical_ratings(both)
