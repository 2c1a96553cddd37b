"""The catalogue behind the viewer's search and quick start (``recsys.data.catalogue``)."""

from __future__ import annotations

import pandas as pd
import pytest

from recsys.data.catalogue import MAX_RESULTS, Catalogue, normalise

pytestmark = pytest.mark.unit

ITEMS = pd.DataFrame({
    "item_id": [1, 2, 3, 4, 5, 6],
    "title": ["Star Wars", "Star Trek: First Contact", "Lone Star", "Amélie", "Toy Story", "Wars of Stars"],
    "year": [1977, 1996, 1996, 2001, 1995, None],
    "genres": ["Action|Sci-Fi", "Action|Sci-Fi", "Drama", "Comedy|Romance", "Animation|Comedy",
               "(no genres listed)"],
})
RATERS = pd.Series({1: 500, 2: 200, 3: 50, 4: 250, 5: 400, 6: 1})


@pytest.fixture()
def catalogue() -> Catalogue:
    return Catalogue(ITEMS, RATERS)


def test_search_puts_title_starts_first_then_word_starts_then_popularity(catalogue: Catalogue) -> None:
    assert [e.item_id for e in catalogue.search("star")] == [1, 2, 3, 6]
    assert [e.item_id for e in catalogue.search("wars star")] == [1, 6]  # every word, any order
    assert [e.item_id for e in catalogue.search("STAR  wars!")] == [1, 6]


def test_search_ignores_accents_and_case_and_bounds_the_limit(catalogue: Catalogue) -> None:
    assert [e.title for e in catalogue.search("amelie")] == ["Amélie"]
    assert catalogue.search("   ") == [] and catalogue.search("zzz") == []
    assert len(catalogue.search("s", limit=2)) == 2
    assert len(catalogue.search("s", limit=10_000)) <= MAX_RESULTS
    assert normalise("  L'Âge  d'or ") == "l age d or"


def test_entries_carry_year_genres_and_popularity(catalogue: Catalogue) -> None:
    star, wars = catalogue.describe([1, 6])
    assert star.as_dict() == {"item_id": 1, "title": "Star Wars", "year": 1977,
                              "genres": ["Action", "Sci-Fi"], "popularity": 500}
    assert wars.year is None and wars.genres == []  # the placeholder genre is no genre
    assert [e.item_id for e in catalogue.describe([5, 99, 1])] == [5, 1]  # unknown ids dropped


def test_popular_by_genre_ranks_genres_and_movies_by_raters(catalogue: Catalogue) -> None:
    shelves = catalogue.popular_by_genre(per_genre=1)
    assert list(shelves) == ["Action", "Sci-Fi", "Comedy", "Animation", "Romance", "Drama"]
    assert [e.item_id for e in shelves["Comedy"]] == [5]
    assert list(catalogue.popular_by_genre(per_genre=2, max_genres=2)) == ["Action", "Sci-Fi"]


def test_only_the_models_movies_are_offered() -> None:
    catalogue = Catalogue(ITEMS, RATERS, known=[1, 3])
    assert len(catalogue) == 2
    assert [e.item_id for e in catalogue.search("star")] == [1, 3]
