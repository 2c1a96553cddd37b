"""ContentTFIDF and the shared item features: the contract, plus content behaviour checks."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from pydantic import ValidationError
from scipy import sparse

from recsys.data.interactions import Interactions
from recsys.models import create
from recsys.models.content_tfidf import profile_weights
from recsys.models.features import ContentFeatureConfig, build_item_features, year_affinity
from recsys.testing import Checkerboard, RecommenderContract

pytestmark = pytest.mark.model

#: A catalogue movie nobody rated, with block 0's metadata.
NEW_BLOCK0_MOVIE = 998


def with_new_movie(checkerboard: Checkerboard) -> Interactions:
    """The checkerboard plus an unrated movie that shares block 0's genres and people."""
    items = pd.concat(
        [
            checkerboard.items,
            pd.DataFrame(
                {
                    "item_id": [NEW_BLOCK0_MOVIE],
                    "title": ["Block 0 sequel"],
                    "year": pd.array([1992], dtype="Int64"),
                    "genres": ["Action|Block0"],
                    "actors": ["actor_0_a|actor_0_b"],
                    "directors": ["director_0"],
                }
            ),
        ],
        ignore_index=True,
    )
    return Interactions.from_frame(
        checkerboard.ratings, items, users=checkerboard.interactions.users
    )


class TestContentTFIDF(RecommenderContract):
    name = "content_tfidf"
    params = {"min_df": 1}
    quality_floor = 1.0
    history_floor = 1.0


class TestContentTFIDFMeanCentred(RecommenderContract):
    name = "content_tfidf"
    params = {"min_df": 1, "weighting": "mean_centred", "year_weight": 0.0}
    quality_floor = 1.0
    history_floor = 1.0


# -- item features ---------------------------------------------------------------------------
def test_features_are_prefixed_weighted_and_row_normalised(checkerboard: Checkerboard) -> None:
    data = checkerboard.interactions
    config = ContentFeatureConfig(min_df=1, field_weights={"genres": 1.0, "directors": 0.5})
    features = build_item_features(data.item_features, data.items, config)
    names = set(features.names.tolist())
    assert "genre:Action" in names and "director:director_0" in names
    assert not any(n.startswith("actor:") for n in names), "actors were not asked for"
    norms = np.sqrt(np.asarray(features.matrix.multiply(features.matrix).sum(axis=1)).ravel())
    np.testing.assert_allclose(norms, 1.0)
    # the director field carries less of the vector than genres (weight 0.5 vs 1)
    row = features.matrix[int(data.items.index([100])[0])].toarray().ravel()
    genre_mass = sum(row[j] ** 2 for j, n in enumerate(features.names) if n.startswith("genre:"))
    director_mass = sum(
        row[j] ** 2 for j, n in enumerate(features.names) if n.startswith("director:")
    )
    assert genre_mass > director_mass > 0
    np.testing.assert_allclose(features.years[data.items.index([100, 101])], [1990.0, 1991.0])


def test_min_df_drops_values_of_a_single_movie(checkerboard: Checkerboard) -> None:
    data = checkerboard.interactions
    config = ContentFeatureConfig(min_df=2, field_weights={"actors": 1.0})
    names = build_item_features(data.item_features, data.items, config).names.tolist()
    assert "actor:actor_0_a" in names  # in all five block-0 movies
    assert "actor:actor_0_3" not in names  # in one movie only


def test_features_reject_unknown_field_and_missing_metadata(checkerboard: Checkerboard) -> None:
    data = checkerboard.interactions
    with pytest.raises(ValueError, match="unknown content field"):
        build_item_features(
            data.item_features, data.items, ContentFeatureConfig(field_weights={"plot": 1.0})
        )
    with pytest.raises(ValueError, match="no content features"):
        build_item_features(None, data.items)
    with pytest.raises(ValueError, match="no content features"):
        create("content_tfidf").fit(Interactions.from_frame(checkerboard.ratings))
    with pytest.raises(ValidationError):
        create("content_tfidf", year_width=0.0)


def test_year_affinity_is_a_kernel_and_ignores_unknown_years() -> None:
    years = np.array([1990.0, 1995.0, np.nan])
    out = year_affinity(years, np.array([1990.0, np.nan]), width=5.0)
    np.testing.assert_allclose(out[0], [1.0, np.exp(-0.5), 0.0])
    np.testing.assert_allclose(out[1], 0.0)


def test_mean_centred_weights_fall_back_to_binary_for_flat_rows() -> None:
    ratings = sparse.csr_matrix(np.array([[5.0, 5.0, 0.0], [5.0, 1.0, 3.0], [0.0, 0.0, 0.0]]))
    weights = profile_weights(ratings, "mean_centred").toarray()
    np.testing.assert_allclose(weights[0], [1.0, 1.0, 0.0])
    np.testing.assert_allclose(weights[1], [2.0, -2.0, 0.0])
    np.testing.assert_allclose(weights[2], 0.0)
    np.testing.assert_allclose(profile_weights(ratings, "rating").toarray(), ratings.toarray())


# -- content behaviour -----------------------------------------------------------------------
def test_new_movie_with_only_metadata_is_scored_by_content(checkerboard: Checkerboard) -> None:
    model = create("content_tfidf", min_df=1).fit(with_new_movie(checkerboard))
    block0_user, block1_user = 1, 1 + 6
    assert checkerboard.block_of_user[block0_user] == 0
    assert checkerboard.block_of_user[block1_user] == 1
    fan, stranger = (
        model.score(block0_user, [NEW_BLOCK0_MOVIE])[0],
        model.score(block1_user, [NEW_BLOCK0_MOVIE])[0],
    )
    assert np.isfinite(fan) and fan > stranger
    assert NEW_BLOCK0_MOVIE in model.recommend(block0_user, k=2).items_of(block0_user)
    assert NEW_BLOCK0_MOVIE not in model.recommend(block1_user, k=3).items_of(block1_user)
    similar = model.similar_items(100, k=5)["item_id"].tolist()
    assert NEW_BLOCK0_MOVIE in similar


def _genre_share(items: pd.DataFrame, ids: list[int], genre: str) -> float:
    genres = items.set_index("item_id").loc[ids, "genres"]
    return float(genres.str.split("|").map(lambda g: genre in g).mean())


def test_sci_fi_fan_gets_sci_fi_first(ml100k: tuple[pd.DataFrame, ...]) -> None:
    ratings, items, _ = ml100k
    model = create("content_tfidf", year_weight=0.0).fit(Interactions.from_frame(ratings, items))
    sci_fi = items[items["genres"].str.contains("Sci-Fi")]["item_id"].head(12).tolist()
    recs = model.recommend_for_history(sci_fi, [5.0] * len(sci_fi), k=10)
    assert not recs.cold_start
    assert _genre_share(items, recs.items_of(-1), "Sci-Fi") == 1.0
    # the same movies without the genre signal: far fewer sci-fi picks (not a base-rate artefact)
    romance = items[
        items["genres"].str.contains("Romance") & ~items["genres"].str.contains("Sci-Fi")
    ]
    other = model.recommend_for_history(romance["item_id"].head(12), k=10)
    assert _genre_share(items, other.items_of(-1), "Sci-Fi") < 0.5


def test_raising_year_weight_moves_results_to_the_users_years(
    ml100k: tuple[pd.DataFrame, ...],
) -> None:
    ratings, items, _ = ml100k
    data = Interactions.from_frame(ratings, items)
    old = items[(items["year"] >= 1950) & (items["year"] < 1960)]["item_id"].head(10).tolist()
    mean_year = float(items.set_index("item_id").loc[old, "year"].astype(float).mean())
    distances = []
    for weight in (0.0, 0.5, 3.0):
        model = create("content_tfidf", year_weight=weight, year_width=5.0).fit(data)
        recommended = model.recommend_for_history(old, k=20).items_of(-1)
        years = items.set_index("item_id").loc[recommended, "year"].astype(float)
        distances.append(float(np.abs(years - mean_year).mean()))
    assert distances[0] > distances[1] > distances[2]
    assert distances[2] < 6.0
