"""Title normalisation and MovieLens-to-catalogue matching, on hand-made frames."""

from __future__ import annotations

import pandas as pd
import pytest

from recsys.availability.matching import match_items, normalise_title, title_keys
from recsys.availability.provider import canonical_platform

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("Shawshank Redemption, The", "the shawshank redemption"),
        ("Usual Suspects, The", "the usual suspects"),
        ("Amélie", "amelie"),
        ("Se7en", "se7en"),
        ("Ghost and Mrs. Muir, The", "the ghost and mrs muir"),
        ("Face/Off", "face off"),
        ("Beauty & the Beast", "beauty and the beast"),
        ("Ascent, L'", "lascent"),
        ("Postman, The ", "the postman"),
        ("Heat", "heat"),
    ],
)
def test_normalise_title(raw: str, expected: str) -> None:
    assert normalise_title(raw) == expected


def test_title_keys_include_parenthesised_aliases() -> None:
    keys = title_keys("City of Lost Children, The (Cité des enfants perdus, La)")
    assert keys[0] == "the city of lost children"
    assert "la cite des enfants perdus" in keys
    assert title_keys("Seven (Se7en)") == ["seven", "se7en"]
    assert title_keys("") == []


@pytest.mark.parametrize(
    ("name", "canonical"),
    [("Netflix", "netflix"), ("Prime Video", "prime_video"), ("Amazon Prime Video", "prime_video"),
     ("Disney+", "disney_plus"), ("Disney Plus", "disney_plus"), ("hulu", "hulu"),
     ("Apple TV", "apple_tv"), ("Google Play Movies", "google_play_movies")],
)
def test_canonical_platform(name: str, canonical: str) -> None:
    assert canonical_platform(name) == canonical


ITEMS = pd.DataFrame(
    {
        "item_id": [1, 2, 3, 4, 5, 6, 7],
        "title": ["Shawshank Redemption, The", "Amélie", "Heat", "Heat", "Old Movie",
                  "Twin, The", "No Year"],
        "year": pd.array([1994, 2001, 1995, 1986, 1950, 2000, None], dtype="Int64"),
        "imdb_id": [None, None, None, None, None, "tt0000006", None],
    }
)


def _catalogue(rows: list[tuple[str, int, str]]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["title", "year", "imdb_id"])


def test_title_year_match_with_articles_accents_and_tolerance() -> None:
    catalogue = _catalogue([
        ("The Shawshank Redemption", 1995, ""),  # year off by one: accepted
        ("Amelie", 2001, ""),                    # accent dropped
        ("Heat", 1995, ""),                      # only the 1995 Heat
        ("Old Movie", 1953, ""),                 # three years off: rejected
        ("No Year", 2000, ""),                   # the item has no year: not matched
    ])
    result = match_items(ITEMS, catalogue)
    pairs = set(zip(result.matches["item_id"], result.matches["entry"], strict=True))
    assert pairs == {(1, 0), (2, 1), (3, 2)}
    assert set(result.matches["method"]) == {"title_year"}
    assert result.rate == pytest.approx(3 / 7)


def test_closest_year_wins_when_two_entries_share_a_title() -> None:
    items = pd.DataFrame({"item_id": [1], "title": ["Heat"], "year": pd.array([1995], dtype="Int64")})
    result = match_items(items, _catalogue([("Heat", 1996, ""), ("Heat", 1995, "")]))
    assert result.matches["entry"].tolist() == [1]


def test_ids_decide_over_titles() -> None:
    catalogue = _catalogue([
        ("The Twin", 2000, "tt9999999"),     # same title, different IMDb id: not the same film
        ("Another Title", 1990, "tt0000006"),  # different title, same IMDb id: the same film
    ])
    result = match_items(ITEMS, catalogue)
    assert result.matches[["item_id", "entry", "method"]].values.tolist() == [[6, 1, "imdb_id"]]


def test_tmdb_id_match() -> None:
    items = pd.DataFrame({"item_id": [10], "title": ["X"], "year": pd.array([2000], dtype="Int64"),
                          "tmdb_id": pd.array([862], dtype="Int64")})
    catalogue = pd.DataFrame({"title": ["Toy Story"], "year": [1995], "tmdb_id": ["862"]})
    result = match_items(items, catalogue)
    assert result.matches[["item_id", "method"]].values.tolist() == [[10, "tmdb_id"]]


def test_no_match_gives_an_empty_result() -> None:
    result = match_items(ITEMS, _catalogue([("Something Else", 2001, "")]))
    assert result.matches.empty
    assert result.rate == 0.0
