"""The catalogue provider and its adapters, on the real files in ../shared/data/streaming."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from recsys.availability import AvailabilityProvider
from recsys.availability.catalogue import (
    CatalogueProvider,
    read_catalogue_file,
    read_catalogues,
    read_flags,
    read_long,
    read_platform_titles,
)
from recsys.availability.provider import AvailabilityError

pytestmark = pytest.mark.unit

PLATFORMS = {"netflix", "hulu", "prime_video", "disney_plus"}


def test_flags_adapter(streaming_dir: Path) -> None:
    frame = read_flags(streaming_dir / "movies-on-streaming-platforms" /
                       "MoviesOnStreamingPlatforms_updated.csv")
    assert set(frame["platform"]) == PLATFORMS
    assert set(frame["region"]) == {"US"}
    inception = frame[frame["title"] == "Inception"]
    assert inception["platform"].tolist() == ["netflix"]
    assert inception["year"].tolist() == [2010]


def test_catalog_adapter_handles_bom_and_crlf(streaming_dir: Path) -> None:
    frame = read_platform_titles(streaming_dir / "streaming-titles-catalog" / "amazon_prime_titles.csv")
    assert frame["title"].iloc[0] == "The Grand Seduction"  # the BOM did not eat the header
    assert set(frame["platform"]) == {"prime_video"}
    assert not frame["title"].str.contains("\r").any()
    raw = pd.read_csv(streaming_dir / "streaming-titles-catalog" / "amazon_prime_titles.csv",
                      encoding="utf-8-sig")
    assert len(frame) == int((raw["type"] == "Movie").sum())  # TV shows dropped


def test_imdb_adapter_keeps_ids(streaming_dir: Path) -> None:
    frame = read_platform_titles(streaming_dir / "streaming-titles-imdb" / "titles.csv")
    assert set(frame["platform"]) == {"netflix"}
    taxi = frame[(frame["title"] == "Taxi Driver") & (frame["year"] == 1976)]
    assert taxi["imdb_id"].tolist() == ["tt0075314"]


def test_long_format_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "offers.csv"
    path.write_text(
        "title,year,imdb_id,tmdb_id,platform,region,offer_type\n"
        "Toy Story,1995,tt0114709,862,Disney+,us,flatrate\n"
        "Toy Story,1995,tt0114709,862,Apple TV,US,rent\n"
    )
    frame = read_long(path)
    assert frame["platform"].tolist() == ["disney_plus", "apple_tv"]
    assert frame["region"].tolist() == ["US", "US"]
    assert read_catalogue_file(path).equals(frame)


def test_bad_files_give_clear_errors(tmp_path: Path) -> None:
    bad_offer = tmp_path / "bad.csv"
    bad_offer.write_text("title,year,platform,offer_type\nX,2000,netflix,stream\n")
    with pytest.raises(AvailabilityError, match="unknown offer_type value.*stream"):
        read_long(bad_offer)
    other = tmp_path / "other.csv"
    other.write_text("a,b\n1,2\n")
    with pytest.raises(AvailabilityError, match="unrecognised catalogue layout"):
        read_catalogue_file(other)
    with pytest.raises(AvailabilityError, match="no such"):
        read_catalogues(tmp_path / "missing")


def test_folder_reads_every_catalogue_once(streaming_dir: Path) -> None:
    frame = read_catalogues(streaming_dir)
    assert set(frame["source"]) == {"movies-on-streaming-platforms", "streaming-titles-catalog",
                                    "streaming-titles-imdb"}
    flags = frame[frame["source"] == "movies-on-streaming-platforms"]
    updated = read_flags(streaming_dir / "movies-on-streaming-platforms" /
                         "MoviesOnStreamingPlatforms_updated.csv")
    assert len(flags) == len(updated)  # the smaller duplicate release is skipped


@pytest.fixture(scope="module")
def ml100k_provider(streaming_dir: Path, ml100k: tuple[pd.DataFrame, ...]) -> CatalogueProvider:
    ratings, items, _ = ml100k
    return CatalogueProvider.from_path(streaming_dir, items, ratings=ratings)


def test_ml100k_match_rates(ml100k_provider: CatalogueProvider) -> None:
    report = ml100k_provider.report_frame().set_index("catalogue")
    # The data README measured 191 (flags table, exact year) and 439 (any table);
    # +/- 1 year and parenthesised aliases find a few more, never far more.
    assert 185 <= report.loc["movies-on-streaming-platforms", "matched"] <= 260
    assert 430 <= report.loc["any", "matched"] <= 520
    assert report["by_id"].sum() == 0  # ML-100K has no ids
    assert 0.35 <= report.loc["any", "rating_share"] <= 0.5


def test_provider_answers(ml100k_provider: CatalogueProvider, ml100k: tuple[pd.DataFrame, ...]) -> None:
    assert isinstance(ml100k_provider, AvailabilityProvider)
    assert set(ml100k_provider.platforms()) == PLATFORMS
    items = ml100k[1].set_index("item_id")
    on_netflix = ml100k_provider.items_on(["Netflix"])
    assert 50 < len(on_netflix) < 400
    for item_id in list(on_netflix)[:20]:
        offers = ml100k_provider.offers(item_id)
        assert offers is not None and any(o.platform == "netflix" for o in offers)
        assert item_id in items.index
    assert ml100k_provider.items_on(["netflix"], region="GB") == set()
    unmatched = next(i for i in items.index if i not in ml100k_provider.match.matched_items)
    assert ml100k_provider.offers(unmatched) == []
    assert ml100k_provider.items_on(["netflix", "hulu"]) == (
        ml100k_provider.items_on(["netflix"]) | ml100k_provider.items_on(["hulu"])
    )


def test_ml_latest_small_joins_by_imdb_id(streaming_dir: Path, ml_latest_small_items: pd.DataFrame) -> None:
    provider = CatalogueProvider.from_path(streaming_dir / "streaming-titles-imdb",
                                           ml_latest_small_items)
    report = provider.report_frame().set_index("catalogue").loc["any"]
    assert report["by_id"] == 1495  # the data README's figure
    assert report["matched"] >= report["by_id"]


def test_offer_as_dict_keeps_the_fields_that_are_set() -> None:
    from dataclasses import asdict

    from recsys.availability.provider import Offer

    for offer in (Offer("netflix", "US"), Offer("hulu", "US", "ads", "tmdb", "https://x")):
        assert offer.as_dict() == {k: v for k, v in asdict(offer).items() if v is not None}
    assert "link" not in Offer("netflix", "US").as_dict()
