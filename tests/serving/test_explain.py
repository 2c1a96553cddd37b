"""``because``: exact contributions for item-item models, similar items for the others."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import sparse

from bentos.schemas import NewUserRecommendations, Recommendations
from recsys.data.interactions import Interactions
from recsys.models import create
from recsys.serving.engine import RecommendationEngine
from recsys.serving.explain import MAX_BECAUSE, Explainer
from recsys.serving.model import ModelInfo

pytestmark = pytest.mark.unit


def tiny() -> tuple[pd.DataFrame, pd.DataFrame]:
    """Eight users, seven movies, a known pattern: 1-2-3 are watched together, 4-5 too."""
    rows = [(1, 1), (1, 2), (1, 3), (2, 1), (2, 2), (3, 2), (3, 3), (3, 6), (4, 4), (4, 5),
            (5, 4), (5, 5), (5, 6), (6, 1), (6, 3), (6, 4), (7, 1), (7, 2), (7, 7),
            (8, 5), (8, 6), (8, 7)]
    ratings = pd.DataFrame(rows, columns=["user_id", "item_id"]).assign(
        rating=[5.0, 4, 3, 4, 5, 2, 4, 5, 3, 4, 5, 3, 4, 2, 5, 4, 3, 5, 4, 2, 3, 4],
        timestamp=np.arange(len(rows)))
    items = pd.DataFrame({"item_id": range(1, 8), "title": [f"Movie {i}" for i in range(1, 8)],
                          "year": [1990 + i for i in range(1, 8)]})
    return ratings, items


def engine_for(name: str, **params: object) -> RecommendationEngine:
    ratings, items = tiny()
    model = create(name, **params).fit(Interactions.from_frame(ratings, items))
    return RecommendationEngine(ModelInfo(model, "1", "test"), items)


def expected_because(rows: np.ndarray, weights: np.ndarray, user_row: int, item: int) -> list[int]:
    """Brute force: history movies by contribution x_j * W[j, i], positive only, top 3."""
    contributions = [(rows[user_row, j] * weights[j, item], j) for j in np.flatnonzero(rows[user_row])]
    ranked = sorted((c for c in contributions if c[0] > 0), key=lambda c: (-c[0], c[1]))
    return [j for _, j in ranked[:MAX_BECAUSE]]


@pytest.mark.parametrize(("name", "params"), [
    ("ease", {"regularization": 1.0}),
    ("ease", {"regularization": 1.0, "rating_tilt": 0.2}),
    ("item_knn", {}),
    ("sparse_ease", {"regularization": 1.0, "neighbors": 3}),
])
def test_item_item_models_are_explained_exactly(name: str, params: dict[str, object]) -> None:
    engine = engine_for(name, **params)
    model = engine.recommender
    if name == "ease":
        rows, weights = model.user_matrix_.toarray(), np.asarray(model.weights_)
    elif name == "sparse_ease":
        rows, weights = model.seen_.toarray(), model.weights_.toarray()
    else:
        rows = model._evidence(model.ratings_).toarray()
        weights = model.similarities_.toarray()
    assert engine.served.explainer.exact
    checked = 0
    for user in model.users_.ids.tolist():
        body = engine.recommend(int(user), k=4)
        row = int(model.users_.index([user])[0])
        for movie in body["items"]:
            item = int(model.items_.index([movie["item_id"]])[0])
            want = [int(model.items_.ids[j]) for j in expected_because(rows, weights, row, item)]
            assert [b["item_id"] for b in movie["because"]] == want, (user, movie)
            assert all(b["title"] == f"Movie {b['item_id']}" for b in movie["because"])
            checked += len(want)
    assert checked > 10  # the tiny matrix does produce explanations


def test_score_is_the_sum_of_contributions_for_ease() -> None:
    """The exact case really is exact: a user's score is the sum over the history."""
    engine = engine_for("ease", regularization=1.0)
    model = engine.recommender
    history, values = engine.served.explainer.history(0)
    for movie in engine.recommend(int(model.users_.ids[0]), k=3)["items"]:
        item = int(model.items_.index([movie["item_id"]])[0])
        assert movie["score"] == pytest.approx(float(values @ model.weights_[history, item]))


@pytest.mark.parametrize("name", ["popularity", "svd"])
def test_other_models_name_similar_history_movies(name: str) -> None:
    ratings, _ = tiny()
    engine = engine_for(name)
    assert not engine.served.explainer.exact
    explained = 0
    for user in sorted(set(ratings["user_id"])):
        seen = set(ratings.loc[ratings["user_id"] == user, "item_id"])
        body = engine.recommend(int(user), k=4)
        Recommendations.model_validate(body)
        for movie in body["items"]:
            assert len(movie["because"]) <= MAX_BECAUSE
            assert {b["item_id"] for b in movie["because"]} <= seen
            explained += bool(movie["because"])
    assert explained > 0


def test_new_visitors_are_explained_from_their_liked_movies() -> None:
    engine = engine_for("ease", regularization=1.0)
    body = engine.recommend_new_user([1, 2], k=3)
    NewUserRecommendations.model_validate(body)
    assert all({b["item_id"] for b in m["because"]} <= {1, 2} for m in body["items"])
    assert any(m["because"] for m in body["items"])
    cold = engine.recommend(999, k=3)  # an unknown user has no history to point at
    assert cold["cold_start"] and all(m["because"] == [] for m in cold["items"])


def test_similarity_fallback_is_lazy_sparse_and_bounded() -> None:
    """Nothing is built at start-up; a recommended movie's neighbours are its top-N by
    cosine over the training matrix's columns, found once and kept."""
    ratings, items = tiny()
    model = create("popularity").fit(Interactions.from_frame(ratings, items))
    explainer = Explainer(model, neighbours=2)
    neighbours = explainer._neighbours
    assert neighbours is not None and len(neighbours) == 0
    columns = sparse.csr_matrix(model.seen_.T, dtype=np.float64)
    unit = sparse.diags(1 / np.sqrt(columns.multiply(columns).sum(axis=1).A.ravel())) @ columns
    cosine = (unit @ unit.T).toarray()
    np.fill_diagonal(cosine, 0.0)
    assert (cosine > 0).sum(axis=1).max() > 2  # the cut to 2 neighbours is exercised
    for item in range(model.n_items):
        found, values = neighbours.of(item)
        expected = [j for j in np.lexsort((np.arange(model.n_items), -cosine[item]))[:2]
                    if cosine[item, j] > 0]
        assert found.tolist() == sorted(expected)
        np.testing.assert_allclose(values, cosine[item, found])
        assert neighbours.of(item)[0] is found  # kept, not recomputed
    assert len(neighbours) == model.n_items
    history, weights = explainer.history(0)
    for item, chosen in zip(range(model.n_items),
                            explainer.because(history, weights, np.arange(model.n_items)),
                            strict=True):
        found, values = neighbours.of(item)
        expected = [int(j) for j, v in sorted(zip(found, values, strict=True),
                                              key=lambda p: (-p[1], p[0])) if j in history]
        assert chosen == expected[:MAX_BECAUSE]


@pytest.mark.parametrize("name", ["svd", "ials"])
def test_factor_models_are_explained_by_cosine_in_their_item_space(name: str) -> None:
    """Nothing is built at start-up: the recommended movies are compared with the history
    in the model's own item vectors, per request."""
    engine = engine_for(name)
    model = engine.recommender
    explainer = engine.served.explainer
    assert not explainer.exact and explainer._columns is None
    vectors = np.asarray(model._item_vectors(), dtype=np.float64)
    unit = vectors / np.linalg.norm(vectors, axis=1, keepdims=True).clip(1e-300)
    checked = 0
    for user in model.users_.ids.tolist():
        row = int(model.users_.index([user])[0])
        seen = np.zeros((len(model.users_), len(model.items_)))
        seen[row, model.seen_[row].indices] = 1.0
        for movie in engine.recommend(int(user), k=3)["items"]:
            item = int(model.items_.index([movie["item_id"]])[0])
            want = [int(model.items_.ids[j])
                    for j in expected_because(seen, unit @ unit.T, row, item)]
            assert [b["item_id"] for b in movie["because"]] == want, (user, movie)
            checked += len(want)
    assert checked > 5
