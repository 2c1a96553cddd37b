"""ContentSVM: the contract, the one-class fallback and the joint per-user solver."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from recsys.data.interactions import Interactions
from recsys.models import create
from recsys.models.content_svm import ContentSVM
from recsys.testing import Checkerboard, RecommenderContract

from .test_content_tfidf import NEW_BLOCK0_MOVIE, with_new_movie

pytestmark = pytest.mark.model

SMALL = {"min_df": 1, "c": 1.0}


class TestContentSVM(RecommenderContract):
    name = "content_svm"
    params = SMALL
    quality_floor = 1.0
    history_floor = 1.0


class TestContentSVMRatedOnly(RecommenderContract):
    """Without sampled negatives the SVM separates liked from disliked rated movies only."""

    name = "content_svm"
    params = {**SMALL, "negatives_per_positive": 0.0, "liked_rule": "absolute"}
    quality_floor = 1.0


def test_one_class_user_falls_back_to_the_profile(checkerboard: Checkerboard) -> None:
    ratings = checkerboard.ratings.copy()
    fan = 1
    ratings.loc[ratings["user_id"] == fan, "rating"] = 5.0  # all liked: one class
    data = Interactions.from_frame(
        ratings, checkerboard.items, users=checkerboard.interactions.users
    )
    model = create("content_svm", **SMALL, negatives_per_positive=0.0).fit(data)
    fan_row = int(model.users_.index([fan])[0])
    assert not model.svm_users_[fan_row]
    assert model.svm_users_[int(model.users_.index([2])[0])]
    tfidf = create(
        "content_tfidf",
        min_df=1,
        weighting="binary",
        year_weight=0.0,
        field_weights=model.config.field_weights,
    ).fit(data)
    np.testing.assert_allclose(model.score(fan), tfidf.score(fan), atol=1e-9)
    assert model.recommend(fan, k=1).items_of(fan) == [checkerboard.held_out[fan]]


def test_joint_solution_equals_separate_per_user_solutions(checkerboard: Checkerboard) -> None:
    model: ContentSVM = create("content_svm", **SMALL).fit(checkerboard.interactions)  # type: ignore[assignment]
    rng = np.random.default_rng(0)
    ratings = checkerboard.interactions.matrix()
    examples = []
    for user in (0, 7, 13):
        start, end = ratings.indptr[user], ratings.indptr[user + 1]
        got = model._examples(ratings.indices[start:end], ratings.data[start:end], rng)
        assert got is not None
        examples.append(got)
    joint_weights, joint_bias = model._train(examples)
    for row, example in enumerate(examples):
        alone_weights, alone_bias = model._train([example])
        np.testing.assert_allclose(joint_weights[row].toarray(), alone_weights.toarray(), atol=1e-3)
        np.testing.assert_allclose(joint_bias[row], alone_bias[0], atol=1e-3)


def test_weights_are_sparse_on_the_users_features(checkerboard: Checkerboard) -> None:
    model = create("content_svm", **SMALL, negatives_per_positive=0.0).fit(
        checkerboard.interactions
    )
    user = 1
    row = model.weights_[int(model.users_.index([user])[0])]
    rated = checkerboard.ratings.loc[checkerboard.ratings["user_id"] == user, "item_id"]
    touched = model.features_.matrix[model.items_.index(rated.to_numpy())].indices
    assert set(row.indices) <= set(touched.tolist())
    assert model.weights_.nnz < model.weights_.shape[0] * model.weights_.shape[1]


def test_new_movie_with_only_metadata_is_scored_by_content(checkerboard: Checkerboard) -> None:
    model = create("content_svm", **SMALL).fit(with_new_movie(checkerboard))
    fan, stranger = model.score(1, [NEW_BLOCK0_MOVIE])[0], model.score(7, [NEW_BLOCK0_MOVIE])[0]
    assert np.isfinite(fan) and fan > stranger
    assert NEW_BLOCK0_MOVIE in model.recommend(1, k=2).items_of(1)


def test_liked_rule_decides_the_labels() -> None:
    by_mean = create("content_svm", liked_rule="user_mean")
    absolute = create("content_svm", liked_rule="absolute", liked_min_rating=4.0)
    ratings = np.array([2.0, 3.0, 3.0, 4.0])
    np.testing.assert_array_equal(by_mean._labels(ratings), [0, 1, 1, 1])
    np.testing.assert_array_equal(absolute._labels(ratings), [0, 0, 0, 1])


def test_sci_fi_fan_gets_sci_fi_first(ml100k: tuple[pd.DataFrame, ...]) -> None:
    ratings, items, _ = ml100k
    model = create("content_svm").fit(
        Interactions.from_frame(ratings[ratings["user_id"] <= 50], items)
    )
    sci_fi = items[items["genres"].str.contains("Sci-Fi")]["item_id"].head(12).tolist()
    recs = model.recommend_for_history(sci_fi, k=10)
    assert not recs.cold_start
    picked = items.set_index("item_id").loc[recs.items_of(-1), "genres"]
    assert picked.str.contains("Sci-Fi").mean() >= 0.8
