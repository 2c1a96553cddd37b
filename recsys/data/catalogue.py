"""The movie catalogue a visitor browses: title search, popular movies per genre, look-ups.

Built once from the items table and the model's per-movie popularity; every query is a
vectorised pass over one column (O(movies), a few milliseconds for 60k+ titles), and
nothing is sized movies x movies.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from recsys.data.schema import ITEM_ID, LIST_SEPARATOR

MAX_RESULTS = 50
#: The "(no genres listed)" placeholder of the newer MovieLens sets and ML-100K's "unknown".
NO_GENRE = frozenset({"(no genres listed)", "unknown", ""})


@dataclass(frozen=True)
class CatalogueEntry:
    """One movie as the viewer page shows it."""

    item_id: int
    title: str
    year: int | None
    genres: list[str]
    popularity: int

    def as_dict(self) -> dict[str, object]:
        return {"item_id": self.item_id, "title": self.title, "year": self.year,
                "genres": self.genres, "popularity": self.popularity}


def normalise(text: str) -> str:
    """Lower case, accents and punctuation dropped, single spaces (``"Amélie"`` -> ``"amelie"``)."""
    plain = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return re.sub(r"\s+", " ", re.sub(r"[^0-9a-z]+", " ", plain.lower())).strip()


class Catalogue:
    """Searchable movies: the items table joined with each movie's number of raters.

    Args:
        items: the items table (``item_id``, ``title``, ``year``, ``genres``).
        popularity: raters per ``item_id``; movies absent from it count 0.
        known: only these item ids are offered (the model's movies); ``None`` keeps all.
    """

    def __init__(self, items: pd.DataFrame, popularity: pd.Series | None = None,
                 known: Iterable[int] | None = None) -> None:
        frame = items[[c for c in (ITEM_ID, "title", "year", "genres") if c in items]].copy()
        frame[ITEM_ID] = frame[ITEM_ID].astype(np.int64)
        if known is not None:
            frame = frame[frame[ITEM_ID].isin(np.fromiter(known, dtype=np.int64))]
        frame["title"] = frame["title"].fillna("").astype(str)
        pop = popularity if popularity is not None else pd.Series(dtype=np.int64)
        frame["popularity"] = frame[ITEM_ID].map(pop).fillna(0).astype(np.int64)
        frame = frame.sort_values(["popularity", ITEM_ID], ascending=[False, True], kind="stable")
        self._frame = frame.reset_index(drop=True)
        self._keys = self._frame["title"].map(normalise).to_numpy(dtype=object)
        self._row = pd.Series(np.arange(len(self._frame)), index=self._frame[ITEM_ID].to_numpy())

    def __len__(self) -> int:
        return len(self._frame)

    def _entry(self, row: int) -> CatalogueEntry:
        rec = self._frame.iloc[row]
        year = rec.get("year")
        genres = str(rec.get("genres") or "")
        return CatalogueEntry(
            item_id=int(rec[ITEM_ID]), title=str(rec["title"]),
            year=None if year is None or pd.isna(year) else int(year),
            genres=[g for g in genres.split(LIST_SEPARATOR) if g not in NO_GENRE],
            popularity=int(rec["popularity"]),
        )

    def search(self, query: str, limit: int = 10) -> list[CatalogueEntry]:
        """Movies whose title contains every word of ``query``; titles starting with the
        query first, then titles with a word starting with it, then the rest; more popular
        first within each group."""
        key = normalise(query)
        limit = max(1, min(int(limit), MAX_RESULTS))
        if not key:
            return []
        keys = pd.Series(self._keys)
        hit = np.ones(len(keys), dtype=bool)
        for word in key.split(" "):
            hit &= keys.str.contains(word, regex=False).to_numpy()
        rows = np.flatnonzero(hit)
        if rows.size == 0:
            return []
        found = keys.iloc[rows]
        starts = found.str.startswith(key).to_numpy()
        word_start = found.str.contains(r"(?:^| )" + re.escape(key), regex=True).to_numpy()
        # rows are already in popularity order: a stable sort by group keeps it within groups
        group = np.where(starts, 0, np.where(word_start, 1, 2))
        ordered = rows[np.argsort(group, kind="stable")][:limit]
        return [self._entry(int(r)) for r in ordered]

    def describe(self, item_ids: Sequence[int]) -> list[CatalogueEntry]:
        """The entries of ``item_ids`` that exist, in the order asked."""
        rows = [self._row.get(int(i)) for i in item_ids]
        return [self._entry(int(r)) for r in rows if r is not None]

    def _by_genre(self) -> pd.DataFrame:
        """One row per (movie, genre), rows in popularity order."""
        if "genres" not in self._frame:
            return pd.DataFrame({"row": [], "genre": [], "popularity": []})
        exploded = pd.DataFrame({
            "row": np.arange(len(self._frame)),
            "genre": self._frame["genres"].fillna("").astype(str).str.split(LIST_SEPARATOR,
                                                                             regex=False),
            "popularity": self._frame["popularity"].to_numpy(),
        }).explode("genre")
        return exploded[~exploded["genre"].isin(NO_GENRE)]

    def genres(self) -> list[str]:
        """Every genre, most-rated genre first."""
        totals = self._by_genre().groupby("genre")["popularity"].sum()
        return [str(g) for g in totals.sort_values(ascending=False, kind="stable").index]

    def popular_by_genre(self, per_genre: int = 8,
                         max_genres: int | None = None) -> dict[str, list[CatalogueEntry]]:
        """The ``per_genre`` most-rated movies of each genre (genres most-rated first)."""
        per_genre = max(1, min(int(per_genre), MAX_RESULTS))
        top = self._by_genre().groupby("genre", sort=False).head(per_genre)
        rows_of = {str(g): [int(r) for r in part["row"]] for g, part in top.groupby("genre")}
        genres = self.genres()[:max_genres] if max_genres else self.genres()
        return {g: [self._entry(r) for r in rows_of[g]] for g in genres}
