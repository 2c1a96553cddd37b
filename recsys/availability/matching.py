"""Matching MovieLens movies to catalogue entries: by id where known, else by title and year.

MovieLens titles move articles to the end (``"Shawshank Redemption, The"``), carry
alternative titles in parentheses (``"City of Lost Children, The (Cité des enfants
perdus, La)"``) and ML-100K has no IMDb id column, so a title join needs care:

1. exact join on ``imdb_id``, then ``tmdb_id``, where both sides have one;
2. otherwise normalised title (article moved back to the front, accents and punctuation
   removed, ``&`` = ``and``) and year within ``year_tolerance`` (closest year wins).

An item that has an id is only title-matched to catalogue rows without that id, so a
known id is never overridden by a title coincidence.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

import numpy as np
import pandas as pd

#: Articles MovieLens moves to the end of a title, in the languages its titles use.
ARTICLES: tuple[str, ...] = (
    "the", "a", "an", "la", "le", "les", "l'", "il", "el", "los", "las", "lo", "das", "der",
    "die", "den", "det", "de", "het", "o", "os", "a", "as", "un", "une", "uno", "una", "gli",
)
_TRAILING_ARTICLE = re.compile(r"^(?P<body>.+),\s*(?P<article>[^\s,]+)$", re.IGNORECASE)
_PARENTHESES = re.compile(r"\s*\(([^()]*)\)")
_NON_WORD = re.compile(r"[^a-z0-9]+")

MATCH_COLUMNS = ("item_id", "entry", "method")


def _move_article(title: str) -> str:
    """``"Shawshank Redemption, The"`` -> ``"The Shawshank Redemption"``."""
    match = _TRAILING_ARTICLE.match(title.strip())
    if match and match.group("article").lower() in ARTICLES:
        article = match.group("article")
        joiner = "" if article.endswith("'") else " "
        return f"{article}{joiner}{match.group('body')}"
    return title.strip()


def normalise_title(title: str) -> str:
    """A comparison key: article to the front, no accents, no punctuation, lower case.

    >>> normalise_title("Shawshank Redemption, The")
    'the shawshank redemption'
    >>> normalise_title("Amélie & Nino: the Movie!")
    'amelie and nino the movie'
    """
    text = _move_article(title)
    text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    text = text.lower().replace("&", " and ").replace("'", "")
    return _NON_WORD.sub(" ", text).strip()


def title_keys(title: str) -> list[str]:
    """Every key a MovieLens title may be known by: main title and each parenthesised alias.

    ``"City of Lost Children, The (Cité des enfants perdus, La)"`` gives both
    ``"the city of lost children"`` and ``"la cite des enfants perdus"``; ``"Seven (Se7en)"``
    gives ``"seven"`` and ``"se7en"``.
    """
    if not isinstance(title, str) or not title.strip():
        return []
    aliases = _PARENTHESES.findall(title)
    main = _PARENTHESES.sub("", title)
    keys = []
    for candidate in (main, *aliases):
        candidate = re.sub(r"^(a\.?k\.?a\.?)\s+", "", candidate.strip(), flags=re.IGNORECASE)
        key = normalise_title(candidate)
        if key and key not in keys:
            keys.append(key)
    return keys


def _id_column(frame: pd.DataFrame, column: str) -> pd.Series:
    if column not in frame:
        return pd.Series(pd.NA, index=frame.index, dtype="string")
    values = frame[column].astype("string").str.strip().str.lower()
    values = values.str.replace(r"\.0$", "", regex=True)
    return values.where(values.notna() & (values != "") & (values != "nan") & (values != "<na>"))


@dataclass(frozen=True)
class MatchResult:
    """Which catalogue row each MovieLens item matched.

    Attributes:
        matches: one row per (item, catalogue row) pair: ``item_id``, ``entry`` (row label
            in the catalogue frame), ``method`` (``imdb_id``, ``tmdb_id`` or ``title_year``).
        n_items: how many MovieLens items were offered for matching.
    """

    matches: pd.DataFrame
    n_items: int

    @property
    def matched_items(self) -> set[int]:
        return set(self.matches["item_id"].astype(int).tolist())

    @property
    def rate(self) -> float:
        return len(self.matched_items) / self.n_items if self.n_items else 0.0


def match_items(
    items: pd.DataFrame, catalogue: pd.DataFrame, *, year_tolerance: int = 1
) -> MatchResult:
    """Match MovieLens ``items`` (``item_id``, ``title``, ``year``, optional ``imdb_id`` /
    ``tmdb_id``) to ``catalogue`` rows (``title``, ``year``, optional ids).

    Returns every matching (item, row) pair: a movie on three platforms matches three rows.
    """
    cat = catalogue.reset_index(drop=False).rename(columns={"index": "entry"})
    if "entry" not in cat:
        cat["entry"] = catalogue.index
    cat["entry"] = catalogue.index.to_numpy()
    found: list[pd.DataFrame] = []
    item_ids = {column: _id_column(items, column) for column in ("imdb_id", "tmdb_id")}
    cat_ids = {column: _id_column(cat, column) for column in ("imdb_id", "tmdb_id")}
    for column in ("imdb_id", "tmdb_id"):
        left = pd.DataFrame({"item_id": items["item_id"].to_numpy(), "key": item_ids[column].to_numpy()})
        right = pd.DataFrame({"entry": cat["entry"].to_numpy(), "key": cat_ids[column].to_numpy()})
        joined = left.dropna(subset=["key"]).merge(right.dropna(subset=["key"]), on="key")
        if len(joined):
            found.append(joined.assign(method=column)[list(MATCH_COLUMNS)])
    # Title + year for the pairs no id decides: both sides lack a common id kind.
    left_rows = []
    for item_id, title, year in zip(items["item_id"], items["title"], items["year"], strict=True):
        if pd.isna(year):
            continue
        for key in title_keys(title):
            left_rows.append((int(item_id), key, int(year)))
    left = pd.DataFrame(left_rows, columns=["item_id", "key", "year"])
    right = pd.DataFrame(
        {
            "entry": cat["entry"].to_numpy(),
            "key": [normalise_title(t) if isinstance(t, str) else "" for t in cat["title"]],
            "cat_year": pd.to_numeric(cat["year"], errors="coerce").to_numpy(),
        }
    )
    right = right[(right["key"] != "") & right["cat_year"].notna()]
    joined = left.merge(right, on="key")
    joined = joined[(joined["year"] - joined["cat_year"]).abs() <= year_tolerance]
    if len(joined):
        item_frame = pd.DataFrame(
            {
                "item_id": items["item_id"].to_numpy(),
                "imdb_item": item_ids["imdb_id"].to_numpy(),
                "tmdb_item": item_ids["tmdb_id"].to_numpy(),
            }
        )
        cat_frame = pd.DataFrame(
            {
                "entry": cat["entry"].to_numpy(),
                "imdb_cat": cat_ids["imdb_id"].to_numpy(),
                "tmdb_cat": cat_ids["tmdb_id"].to_numpy(),
            }
        )
        joined = joined.merge(item_frame, on="item_id").merge(cat_frame, on="entry")
        id_decides = (joined["imdb_item"].notna() & joined["imdb_cat"].notna()) | (
            joined["tmdb_item"].notna() & joined["tmdb_cat"].notna()
        )
        joined = joined[~id_decides.to_numpy(dtype=bool)]
        # Per (item, catalogue title) keep the closest year only, so "Heat" 1995 does not
        # also take "Heat" 1996 when both exist.
        joined = joined.assign(gap=(joined["year"] - joined["cat_year"]).abs())
        best = joined.groupby(["item_id", "key"])["gap"].transform("min")
        joined = joined[joined["gap"] == best]
        found.append(joined.assign(method="title_year")[list(MATCH_COLUMNS)])
    matches = (
        pd.concat(found, ignore_index=True).drop_duplicates(["item_id", "entry"])
        if found
        else pd.DataFrame({c: pd.Series(dtype=t) for c, t in zip(MATCH_COLUMNS, ("int64", "int64", "object"), strict=True)})
    )
    matches["item_id"] = matches["item_id"].astype(np.int64)
    return MatchResult(matches.reset_index(drop=True), int(items["item_id"].nunique()))
