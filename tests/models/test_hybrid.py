"""Hybrid: the contract, weight fitting, cold-start switching and saved sub-models."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from pydantic import ValidationError
from scipy import sparse

from recsys.data.interactions import Interactions
from recsys.models import create, load_model
from recsys.models.hybrid import (
    COMPONENTS,
    Hybrid,
    ndcg_from_ranking,
    normalise_rows,
    simplex_grid,
)

from .conftest import UNKNOWN_USER, Checkerboard
from .contract import RecommenderContract
from .test_content_tfidf import NEW_BLOCK0_MOVIE, with_new_movie

pytestmark = pytest.mark.model

#: Small, fast components for the checkerboard.
SMALL = {
    "cf_model": "ease",
    "cf_params": {"regularization": 10.0},
    "content_params": {"min_df": 1},
    "grid_step": 0.25,
}


class TestHybrid(RecommenderContract):
    name = "hybrid"
    params = SMALL
    quality_floor = 1.0
    history_floor = 1.0


class TestHybridFixedWeightsWithSVM(RecommenderContract):
    name = "hybrid"
    params = {
        **SMALL,
        "content_model": "content_svm",
        "content_params": {"min_df": 1, "c": 1.0},
        "weights": {"cf": 0.5, "content": 0.4, "popularity": 0.1},
        "normalisation": "minmax",
    }
    quality_floor = 1.0
    history_floor = 1.0


@pytest.fixture(scope="module")
def hybrid(checkerboard: Checkerboard) -> Hybrid:
    model = create("hybrid", **SMALL).fit(with_new_movie(checkerboard))
    assert isinstance(model, Hybrid)
    return model


def test_weights_are_fitted_on_a_validation_split(hybrid: Hybrid) -> None:
    assert hybrid.weights_.shape == (len(COMPONENTS),)
    assert np.isclose(hybrid.weights_.sum(), 1.0) and (hybrid.weights_ >= 0).all()
    assert set(hybrid.validation_ndcg_) == {*COMPONENTS, "blend"}
    # the grid contains every single-component vector, so the blend is at least the best one
    best_single = max(hybrid.validation_ndcg_[c] for c in COMPONENTS)
    assert hybrid.validation_ndcg_["blend"] >= best_single - 1e-12


def test_fixed_weights_skip_the_search(checkerboard: Checkerboard) -> None:
    model = create("hybrid", **SMALL, weights={"cf": 1.0}).fit(checkerboard.interactions)
    assert model.validation_ndcg_ == {}
    np.testing.assert_allclose(model.weights_, [1.0, 0.0, 0.0])
    ease = create("ease", regularization=10.0).fit(checkerboard.interactions)
    users = checkerboard.rated_users
    # among rated movies the blend is EASE's ranking; unrated ones get a neutral CF score
    rated = checkerboard.ratings["item_id"].unique()
    assert (
        model.recommend(users, k=3, candidates=rated).frame["item_id"].tolist()
        == ease.recommend(users, k=3, candidates=rated).frame["item_id"].tolist()
    )


def test_config_rejects_bad_components_and_weights() -> None:
    for bad in (
        {"cf_model": "hybrid"},
        {"cf_model": "content_tfidf"},
        {"cf_model": "no_such_model"},
        {"content_model": "ease"},
        {"weights": {"cf": 1.0, "social": 1.0}},
        {"weights": {"cf": 0.0}},
    ):
        with pytest.raises(ValidationError):
            create("hybrid", **bad)


def test_unknown_user_gets_popularity(hybrid: Hybrid, checkerboard: Checkerboard) -> None:
    recs = hybrid.recommend([1, UNKNOWN_USER], k=4)
    assert recs.cold_start == frozenset({UNKNOWN_USER})
    popularity = create("popularity").fit(with_new_movie(checkerboard))
    expected = popularity.recommend(UNKNOWN_USER, k=4).items_of(UNKNOWN_USER)
    assert recs.items_of(UNKNOWN_USER) == expected


def test_new_user_history_switches_to_content_and_popularity(
    hybrid: Hybrid, checkerboard: Checkerboard
) -> None:
    block2 = checkerboard.block_items[2]
    history, stars = block2[:3], np.array([5.0, 5.0, 4.0])
    recs = hybrid.recommend_for_history(history, stars, k=2, user_id=-5)
    assert recs.cold_start == frozenset(), "a visitor with history is served, not a fallback"
    assert set(recs.items_of(-5)) == set(block2[3:])
    # content + popularity only: the CF component does not enter a visitor's scores
    index = hybrid.items_.index(history)
    content = hybrid.content_._score_history(index, stars)
    assert content is not None
    weights = hybrid.weights_[1:] / hybrid.weights_[1:].sum()
    expected = weights[0] * np.nan_to_num(normalise_rows(content[None, :], "zscore")[0])
    expected += weights[1] * np.nan_to_num(normalise_rows(hybrid.popularity_[None, :], "zscore")[0])
    np.testing.assert_allclose(hybrid._score_history(index, stars), expected)


def test_new_movie_with_only_metadata_is_scored_by_content(hybrid: Hybrid) -> None:
    assert hybrid.cold_items_[int(hybrid.items_.index([NEW_BLOCK0_MOVIE])[0])]
    assert hybrid.cold_items_.sum() == 2  # the new movie and the checkerboard's unrated item
    fan, stranger = (hybrid.score(user, [NEW_BLOCK0_MOVIE])[0] for user in (1, 7))
    assert np.isfinite(fan) and np.isfinite(stranger)
    if hybrid.weights_[1] > 0:
        assert fan > stranger
    else:  # no content weight fitted: the movie still gets the CF-neutral score
        assert np.isclose(fan, stranger)


def test_sub_models_are_saved_in_sub_folders(hybrid: Hybrid, tmp_path: Path) -> None:
    folder = hybrid.save(tmp_path / "hybrid")
    assert (folder / "cf" / "model.json").is_file()
    assert (folder / "content" / "model.json").is_file()
    loaded = load_model(folder)
    assert isinstance(loaded, Hybrid)
    np.testing.assert_allclose(loaded.weights_, hybrid.weights_)
    assert loaded.validation_ndcg_ == pytest.approx(hybrid.validation_ndcg_)
    assert loaded.cf_.name == "ease" and loaded.content_.name == "content_tfidf"
    np.testing.assert_allclose(
        loaded.score(1, [NEW_BLOCK0_MOVIE]), hybrid.score(1, [NEW_BLOCK0_MOVIE])
    )


def test_simplex_grid_and_ndcg_helpers() -> None:
    grid = simplex_grid(0.5)
    assert sorted(grid) == sorted(
        [
            (0.0, 0.0, 1.0),
            (0.0, 0.5, 0.5),
            (0.0, 1.0, 0.0),
            (0.5, 0.0, 0.5),
            (0.5, 0.5, 0.0),
            (1.0, 0.0, 0.0),
        ]
    )
    assert len(simplex_grid(0.1)) == 66
    relevant = sparse.csr_matrix(np.array([[1, 0, 0, 1], [0, 0, 0, 0]], dtype=float))
    perfect = np.array([[0, 3], [1, 2]])
    assert ndcg_from_ranking(perfect, relevant) == pytest.approx(0.5)  # second user: no relevant
    swapped = np.array([[1, 0], [-1, -1]])
    assert ndcg_from_ranking(swapped, relevant) == pytest.approx(
        0.5 * (1 / np.log2(3)) / (1 + 1 / np.log2(3))
    )


@pytest.mark.slow
def test_hybrid_at_least_matches_its_cf_component(ml100k: tuple[pd.DataFrame, ...]) -> None:
    from recsys.evaluation.evaluate import evaluate_model
    from recsys.evaluation.splits import split_ratings

    ratings, items, _ = ml100k
    split = split_ratings(ratings, "ms-stratified", seed=42)
    train = Interactions.from_frame(split.train, items)
    ease = create("ease").fit(train)
    hybrid = create("hybrid").fit(train)
    ease_ndcg = evaluate_model(ease, train, split.test)["ndcg_at_10"]
    hybrid_ndcg = evaluate_model(hybrid, train, split.test)["ndcg_at_10"]
    assert hybrid_ndcg >= ease_ndcg - 0.005


def test_validation_split_holds_out_a_share_of_eligible_users(checkerboard: Checkerboard) -> None:
    data = checkerboard.interactions
    held = create("hybrid", validation_share=0.2)._validation_mask(data)  # type: ignore[attr-defined]
    per_user = pd.Series(held).groupby(data.frame["user_id"].to_numpy()).sum()
    assert (per_user == 1).all()  # 6 ratings each: max(1, floor(0.2 * 6)) = 1
    capped = create("hybrid", max_validation_users=3)._validation_mask(data)  # type: ignore[attr-defined]
    assert data.frame.loc[capped, "user_id"].nunique() == 3
    again = create("hybrid", max_validation_users=3)._validation_mask(data)  # type: ignore[attr-defined]
    np.testing.assert_array_equal(capped, again)
