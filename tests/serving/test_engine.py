"""The service's engine in process: no availability configured, model resolution, logging."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from bentos.model_source import (
    alias_version,
    model_from_folder,
    registry_configured,
    resolve_model,
)
from recsys.availability.provider import AvailabilityError
from recsys.models.base import ModelLoadError
from recsys.serving.availability import load_availability
from recsys.serving.config import ServeConfig
from recsys.serving.engine import RecommendationEngine
from recsys.serving.inference_log import InferenceLog
from recsys.serving.platforms import NO_AVAILABILITY_HINT

pytestmark = pytest.mark.unit


@pytest.fixture(scope="module")
def engine(served_model_dir: Path, ml100k: tuple[pd.DataFrame, ...],
           tmp_path_factory: pytest.TempPathFactory) -> RecommendationEngine:
    log = InferenceLog(tmp_path_factory.mktemp("log") / "log.jsonl")
    availability = load_availability(None, ml100k[1], ServeConfig())
    return RecommendationEngine(model_from_folder(served_model_dir), ml100k[1],
                                availability.provider, hint=availability.hint, log=log)


def test_no_availability_means_null_with_a_hint(engine: RecommendationEngine) -> None:
    body = engine.recommend(1, k=5, platforms=["netflix"])
    assert len(body["items"]) == 5
    assert all(m["availability"] is None for m in body["items"])
    assert body["availability_hint"] == NO_AVAILABILITY_HINT
    assert "platform filter not applied" in body["note"]
    assert engine.model_card()["availability"] is None


def test_unreadable_catalogue_is_a_start_up_error(ml100k: tuple[pd.DataFrame, ...],
                                                  tmp_path: Path) -> None:
    """A configured catalogue that does not load stops the service: serving on would switch
    the platform filter off under the note "no streaming availability configured"."""
    with pytest.raises(AvailabilityError, match="no such catalogue file"):
        load_availability(str(tmp_path / "missing.csv"), ml100k[1], ServeConfig())
    broken = tmp_path / "broken.csv"
    broken.write_text("not,a,catalogue\n1,2,3\n")
    with pytest.raises(AvailabilityError, match="broken.csv"):
        load_availability(str(broken), ml100k[1], ServeConfig())
    with pytest.raises(AvailabilityError, match="no items table"):
        load_availability(str(tmp_path), None, ServeConfig())


def test_log_lines_are_json(engine: RecommendationEngine) -> None:
    engine.recommend(2, k=3)
    assert engine.log is not None
    engine.log.flush()
    lines = engine.log.path.read_text().splitlines()
    record = json.loads(lines[-1])
    assert record["endpoint"] == "recommend" and record["user_id"] == 2
    assert len(record["items"]) == 3 and record["cold_start"] is False


def test_model_resolution_order(monkeypatch: pytest.MonkeyPatch, served_model_dir: Path,
                                tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)  # no mlflow.db here
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.setenv("MOVIEREC_MODEL_DIR", str(served_model_dir))
    assert resolve_model(ServeConfig()).version == "7"
    monkeypatch.delenv("MOVIEREC_MODEL_DIR")
    with pytest.raises(RuntimeError, match="no model to serve"):
        resolve_model(ServeConfig(model_name="no-such-model"))
    monkeypatch.setenv("MOVIEREC_MODEL_DIR", str(tmp_path))
    with pytest.raises(ModelLoadError, match="no saved model"):
        resolve_model(ServeConfig())


def test_a_missing_sqlite_registry_is_read_as_empty_not_created(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Two workers starting on a fresh SQLite URI must not both run MLflow's migrations
    (one fails with "table _alembic_tmp_... already exists"): the service never creates
    the database it reads the champion from."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MOVIEREC_MODEL_DIR", raising=False)
    database = tmp_path / "nested" / "empty.db"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{database}")
    assert not registry_configured()
    assert alias_version("movie-recommender-ml-100k", "champion") is None
    with pytest.raises(RuntimeError, match="no model to serve"):
        resolve_model(ServeConfig())
    assert not database.exists()
    database.parent.mkdir()
    database.touch()
    assert not registry_configured()  # an empty file has no tables either
    database.write_bytes(b"SQLite format 3\x00")
    assert registry_configured()
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "sqlite:///relative.db")
    assert not registry_configured()
    (tmp_path / "relative.db").write_bytes(b"SQLite format 3\x00")
    assert registry_configured()
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://127.0.0.1:5000")
    assert registry_configured()


def test_log_keeps_records_with_nan_requests(tmp_path: Path) -> None:
    log = InferenceLog(tmp_path / "log.jsonl")
    log.append({"endpoint": "recommend", "status": 400, "request": {"k": float("nan")}})
    log.close()
    record = json.loads((tmp_path / "log.jsonl").read_text())
    assert record["status"] == 400 and "NaN" in record["request"]


def test_a_region_the_catalogues_do_not_cover_is_unknown_not_unavailable(
        served_model_dir: Path, ml100k: tuple[pd.DataFrame, ...], tmp_path: Path) -> None:
    """With US-only catalogues, ``region: "GB"`` (or a made-up "XX") has no data: each
    movie's availability is null, not [], the platform filter is not applied (it used to
    return no movie at all), and the note says why."""
    from recsys.availability.catalogue import CatalogueProvider, read_long

    path = tmp_path / "offers.csv"
    path.write_text("title,year,imdb_id,tmdb_id,platform,region,offer_type\n"
                    "Toy Story,1995,,,netflix,US,flatrate\n"
                    "Star Wars,1977,,,netflix,US,flatrate\n")
    provider = CatalogueProvider(read_long(path), ml100k[1])
    assert provider.regions() == ["US"]
    engine = RecommendationEngine(model_from_folder(served_model_dir), ml100k[1], provider)

    us = engine.recommend(1, k=5, exclude_seen=False, platforms=["netflix"], region="us")
    assert us["note"] is None or "region" not in us["note"]
    assert 0 < len(us["items"]) <= 2
    assert all(m["availability"][0]["platform"] == "netflix" for m in us["items"])

    for region in ("GB", "xx"):
        body = engine.recommend(1, k=5, platforms=["netflix"], region=region)
        assert len(body["items"]) == 5
        assert all(m["availability"] is None for m in body["items"])
        assert body["note"] == (f"platform filter not applied: no streaming data for region "
                                f"{region.upper()}: the catalogues cover US")
        plain = engine.recommend(1, k=5, region=region)
        assert plain["note"].startswith(f"no streaming data for region {region.upper()}")
        visitor = engine.recommend_new_user([1, 50], k=5, platforms=["netflix"], region=region)
        assert len(visitor["items"]) == 5 and "platform filter not applied" in visitor["note"]


def test_a_movie_liked_twice_counts_once(engine: RecommendationEngine) -> None:
    once = engine.recommend_new_user([50, 172, 181], k=10)
    twice = engine.recommend_new_user([50, 50, 50, 172, 181, 181], k=10)
    assert [m["item_id"] for m in twice["items"]] == [m["item_id"] for m in once["items"]]
    assert [m["score"] for m in twice["items"]] == [m["score"] for m in once["items"]]


def test_a_model_of_another_catalogue_is_refused(served_model_dir: Path,
                                                 ml100k: tuple[pd.DataFrame, ...]) -> None:
    """Ids of another dataset overlap but name other movies: refuse, naming the gap."""
    from recsys.serving.model import CatalogueMismatch

    other = ml100k[1][ml100k[1]["item_id"] > 100]
    with pytest.raises(CatalogueMismatch, match=r"100 of its 1,682 movie ids are not in it"):
        RecommendationEngine(model_from_folder(served_model_dir), other)


def test_answers_match_the_documented_schemas(engine: RecommendationEngine) -> None:
    from bentos import schemas

    schemas.Recommendations.model_validate(engine.recommend(1, k=3), strict=True)
    schemas.Recommendations.model_validate(engine.recommend(999_999, k=3), strict=True)
    schemas.NewUserRecommendations.model_validate(engine.recommend_new_user([1, 2], k=3),
                                                  strict=True)
    schemas.SimilarItems.model_validate(engine.similar_items(50, k=3), strict=True)
    schemas.RatingPrediction.model_validate(engine.predict_rating(1, 50), strict=True)


def test_model_card_shows_no_server_paths(engine: RecommendationEngine,
                                          served_model_dir: Path) -> None:
    card = engine.model_card()
    assert card["source"] == f"folder:{served_model_dir.name}"
    assert str(served_model_dir.parent) not in json.dumps(card)
