"""A catalogue provider over CSV files, with adapters for the Kaggle platform tables.

The provider's own format is a long table, one row per offer::

    title,year,imdb_id,tmdb_id,platform,region,offer_type

Adapters turn the tables in ``../shared/data/streaming/`` into that format:

* per-movie 0/1 platform flags (``MoviesOnStreamingPlatforms*.csv``: ``Title``, ``Year``,
  ``Netflix``, ``Hulu``, ``Prime Video``, ``Disney+``), US, about 2020;
* per-platform catalogues with IMDb ids (``titles.csv`` = Netflix, ``amazon_titles.csv``,
  ``disney_titles.csv``, ``hulu_titles.csv``: ``title``, ``type``, ``release_year``,
  ``imdb_id``);
* per-platform catalogues without ids (``netflix_titles.csv``, ``amazon_prime_titles.csv``,
  ``disney_plus_titles.csv``, ``hulu_titles.csv``: ``title``, ``type``, ``release_year``;
  some start with a UTF-8 BOM and use CRLF).

Only movies are kept (TV shows are dropped). The provider matches MovieLens items once, at
construction, and keeps ``item_id -> offers`` so that look-ups at request time are dict reads.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from recsys.availability.matching import MatchResult, match_items
from recsys.availability.provider import (
    DEFAULT_REGION,
    OFFER_TYPES,
    AvailabilityError,
    Offer,
    canonical_platform,
)

LONG_COLUMNS: tuple[str, ...] = (
    "title", "year", "imdb_id", "tmdb_id", "platform", "region", "offer_type",
)
#: Columns of the 0/1 flag table -> canonical platform.
FLAG_COLUMNS: dict[str, str] = {
    "Netflix": "netflix",
    "Hulu": "hulu",
    "Prime Video": "prime_video",
    "Disney+": "disney_plus",
}
#: File name -> platform, for the per-platform catalogues (both Kaggle families).
PLATFORM_FILES: dict[str, str] = {
    "titles.csv": "netflix",
    "netflix_titles.csv": "netflix",
    "amazon_titles.csv": "prime_video",
    "amazon_prime_titles.csv": "prime_video",
    "disney_titles.csv": "disney_plus",
    "disney_plus_titles.csv": "disney_plus",
    "hulu_titles.csv": "hulu",
}
#: The Kaggle tables describe the US catalogues.
KAGGLE_REGION = "US"


def _read_csv(path: Path) -> pd.DataFrame:
    # utf-8-sig drops the BOM some Kaggle files start with; pandas handles CRLF itself.
    try:
        return pd.read_csv(path, encoding="utf-8-sig", dtype=str, keep_default_na=False)
    except (pd.errors.ParserError, UnicodeDecodeError, pd.errors.EmptyDataError) as exc:
        raise AvailabilityError(f"{path}: not a readable CSV file ({exc})") from exc


def _long(frame: pd.DataFrame, source: str) -> pd.DataFrame:
    out = pd.DataFrame(
        {
            "title": frame["title"].astype(str).str.strip(),
            "year": pd.to_numeric(frame["year"], errors="coerce").astype("Int64"),
            "imdb_id": frame.get("imdb_id", pd.Series("", index=frame.index)).astype(str),
            "tmdb_id": frame.get("tmdb_id", pd.Series("", index=frame.index)).astype(str),
            "platform": frame["platform"].astype(str).map(canonical_platform),
            "region": frame.get("region", pd.Series(KAGGLE_REGION, index=frame.index))
            .astype(str).str.upper().str.strip(),
            "offer_type": frame.get("offer_type", pd.Series("flatrate", index=frame.index))
            .astype(str).str.lower().str.strip(),
            "source": source,
        }
    )
    for column in ("imdb_id", "tmdb_id"):
        out[column] = out[column].str.strip().replace({"nan": "", "<NA>": "", "None": ""})
    return out.reset_index(drop=True)


def read_long(path: Path, source: str | None = None) -> pd.DataFrame:
    """The project's long format (see module docstring); unknown offer types are an error."""
    frame = _read_csv(path)
    missing = [c for c in ("title", "year", "platform") if c not in frame]
    if missing:
        raise AvailabilityError(
            f"{path}: missing column(s) {', '.join(missing)}; expected {', '.join(LONG_COLUMNS)}"
        )
    out = _long(frame, source or path.stem)
    bad = sorted(set(out["offer_type"]) - set(OFFER_TYPES))
    if bad:
        raise AvailabilityError(
            f"{path}: unknown offer_type value(s) {', '.join(bad)}; use {', '.join(OFFER_TYPES)}"
        )
    return out


def read_flags(path: Path, source: str | None = None) -> pd.DataFrame:
    """Adapter for ``MoviesOnStreamingPlatforms*.csv`` (one row per movie, 0/1 per platform)."""
    frame = _read_csv(path)
    flags = [c for c in FLAG_COLUMNS if c in frame]
    if "Title" not in frame or "Year" not in frame or not flags:
        raise AvailabilityError(f"{path}: not a platform-flags table (Title, Year, Netflix, ...)")
    parts = []
    for column in flags:
        on = frame[frame[column].str.strip() == "1"]
        parts.append(pd.DataFrame({"title": on["Title"], "year": on["Year"],
                                   "platform": FLAG_COLUMNS[column]}))
    return _long(pd.concat(parts, ignore_index=True), source or path.stem)


def read_platform_titles(path: Path, platform: str | None = None, source: str | None = None) -> pd.DataFrame:
    """Adapter for one per-platform catalogue (either Kaggle family); movies only."""
    frame = _read_csv(path)
    platform = platform or PLATFORM_FILES.get(path.name)
    if platform is None:
        raise AvailabilityError(f"{path}: cannot tell which platform this catalogue is")
    if "title" not in frame or "release_year" not in frame:
        raise AvailabilityError(f"{path}: not a platform catalogue (title, type, release_year)")
    if "type" in frame:
        frame = frame[frame["type"].str.strip().str.upper() == "MOVIE"]
    return _long(
        pd.DataFrame(
            {
                "title": frame["title"],
                "year": frame["release_year"],
                "imdb_id": frame.get("imdb_id", ""),
                "platform": platform,
            }
        ),
        source or path.parent.name,
    )


def read_catalogue_file(path: Path, source: str | None = None) -> pd.DataFrame:
    """Read one CSV in whichever supported layout it has (detected from its header)."""
    header = set(_read_csv(path).columns) if path.stat().st_size else set()
    if {"title", "year", "platform"} <= header:
        return read_long(path, source)
    if {"Title", "Year"} <= header and header & set(FLAG_COLUMNS):
        return read_flags(path, source)
    if {"title", "release_year"} <= header:
        return read_platform_titles(path, source=source)
    raise AvailabilityError(
        f"{path}: unrecognised catalogue layout; expected the long format "
        f"({', '.join(LONG_COLUMNS)}), a platform-flags table or a per-platform catalogue"
    )


def read_catalogues(path: str | Path) -> pd.DataFrame:
    """Read a catalogue CSV or every catalogue CSV under a folder, in the long format.

    A folder's CSVs are grouped by their parent folder into catalogues (the ``source``
    column), so pointing at ``streaming/`` yields one catalogue per Kaggle dataset. Of the
    two flag tables only ``*_updated.csv`` (the larger, older release) is read when both
    are present, so that one source is not counted twice.
    """
    path = Path(path)
    if path.is_file():
        return read_catalogue_file(path, source=path.stem)
    if not path.is_dir():
        raise AvailabilityError(f"{path}: no such catalogue file or folder")
    files = sorted(p for p in path.rglob("*.csv") if p.is_file())
    names = {p.name for p in files}
    if "MoviesOnStreamingPlatforms_updated.csv" in names:
        files = [p for p in files if p.name != "MoviesOnStreamingPlatforms.csv"]
    if not files:
        raise AvailabilityError(f"{path}: no catalogue CSV files")
    frames = [read_catalogue_file(p, source=p.parent.name if p.parent != path else p.stem)
              for p in files]
    return pd.concat(frames, ignore_index=True)


@dataclass(frozen=True)
class MatchReport:
    """Match rate of MovieLens items against one catalogue."""

    catalogue: str
    n_items: int
    matched: int
    by_id: int
    by_title: int
    rating_share: float | None

    @property
    def rate(self) -> float:
        return self.matched / self.n_items if self.n_items else 0.0


class CatalogueProvider:
    """Streaming availability from catalogue CSV files (``AvailabilityProvider``).

    Args:
        catalogue: offers in the long format (``read_catalogues``).
        items: MovieLens items table (``item_id``, ``title``, ``year``, optional ids).
        ratings: optional ratings, only to report the share of ratings matched items cover.
        year_tolerance: allowed year difference for title matches.
    """

    name = "catalogue"
    attribution: str | None = None

    def __init__(
        self,
        catalogue: pd.DataFrame,
        items: pd.DataFrame,
        *,
        ratings: pd.DataFrame | None = None,
        year_tolerance: int = 1,
    ) -> None:
        self.catalogue = catalogue.reset_index(drop=True)
        self.match: MatchResult = match_items(items, self.catalogue, year_tolerance=year_tolerance)
        self._offers: dict[int, list[Offer]] = defaultdict(list)
        self._on: dict[tuple[str, str], set[int]] = defaultdict(set)
        rows = self.catalogue.loc[self.match.matches["entry"].to_numpy()]
        seen: set[tuple[int, str, str, str]] = set()
        for item_id, platform, region, offer_type, source in zip(
            self.match.matches["item_id"].to_numpy(), rows["platform"], rows["region"],
            rows["offer_type"], rows["source"], strict=True,
        ):
            key = (int(item_id), platform, region, offer_type)
            if key in seen:
                continue
            seen.add(key)
            self._offers[int(item_id)].append(Offer(platform, region, offer_type, source))
            if offer_type in ("flatrate", "free", "ads"):
                self._on[(platform, region)].add(int(item_id))
        self._offers = dict(self._offers)
        self._platforms = sorted(set(self.catalogue["platform"]))
        self.reports = self._reports(items, ratings)

    @classmethod
    def from_path(
        cls, path: str | Path, items: pd.DataFrame, *, ratings: pd.DataFrame | None = None,
        year_tolerance: int = 1,
    ) -> CatalogueProvider:
        """Read ``path`` (a CSV or a folder of CSVs) and match ``items`` against it."""
        return cls(read_catalogues(path), items, ratings=ratings, year_tolerance=year_tolerance)

    def platforms(self) -> list[str]:
        return list(self._platforms)

    def regions(self) -> list[str]:
        """The regions the catalogues list offers for (others have no data, not no offers)."""
        return sorted({str(r).upper() for r in self.catalogue["region"]})

    def offers(self, item_id: int, region: str = DEFAULT_REGION) -> list[Offer] | None:
        """Offers in ``region``; an unmatched movie has none (an empty list)."""
        region = region.upper()
        return [o for o in self._offers.get(int(item_id), ()) if o.region == region]

    def items_on(self, platforms: Iterable[str], region: str = DEFAULT_REGION) -> set[int]:
        """Movies streamable (subscription, free or with ads) on any of ``platforms``."""
        region = region.upper()
        out: set[int] = set()
        for platform in platforms:
            out |= self._on.get((canonical_platform(platform), region), set())
        return out

    def _reports(self, items: pd.DataFrame, ratings: pd.DataFrame | None) -> list[MatchReport]:
        counts = (
            ratings["item_id"].value_counts() if ratings is not None and len(ratings) else None
        )
        matches = self.match.matches.assign(
            source=self.catalogue["source"].to_numpy()[self.match.matches["entry"].to_numpy()]
            if len(self.match.matches) else np.array([], dtype=object)
        )
        groups: list[tuple[str, pd.DataFrame]] = [
            (str(s), matches[matches["source"] == s]) for s in sorted(set(self.catalogue["source"]))
        ]
        if len(groups) > 1:
            groups.append(("any", matches))
        reports = []
        for source, group in groups:
            matched = set(group["item_id"].tolist())
            by_id = set(group.loc[group["method"] != "title_year", "item_id"].tolist())
            share = None
            if counts is not None:
                share = float(counts.reindex(list(matched)).fillna(0).sum() / counts.sum())
            reports.append(MatchReport(source, self.match.n_items, len(matched), len(by_id),
                                       len(matched - by_id), share))
        return reports

    def report_frame(self) -> pd.DataFrame:
        """The match reports as a table (one row per catalogue, plus ``any``)."""
        return pd.DataFrame(
            [
                {"catalogue": r.catalogue, "items": r.n_items, "matched": r.matched,
                 "match_rate": round(r.rate, 4), "by_id": r.by_id, "by_title_year": r.by_title,
                 "rating_share": None if r.rating_share is None else round(r.rating_share, 4)}
                for r in self.reports
            ]
        )
