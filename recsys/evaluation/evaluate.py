"""Evaluate a fitted recommender on held-out ratings: one dict of MLflow-safe metrics.

Keys (``k = 10`` shown): ``precision_at_10``, ``recall_at_10``, ``ndcg_at_10``,
``map_at_10``, ``hit_rate_at_10``, ``mrr``, the recommendation-quality metrics of
``recsys.evaluation.beyond_accuracy`` (``coverage``, ``avg_rec_popularity``,
``gini_exposure``, ``novelty``, ``personalisation``, ``diversity``), ``fit_seconds``,
``recommend_seconds``, and ``rmse``, ``mae`` for models whose scores are
rating predictions (``predicts_ratings``); the two are absent for the others.

Every distinct test user gets a top-``k`` list with their training items excluded (unknown
users get the model's fallback list); every test rating is relevant.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray
from scipy import sparse

import recsys.evaluation.metrics as metrics
from recsys.data.interactions import Interactions, Vocabulary
from recsys.data.schema import ITEM_ID, RATING, USER_ID
from recsys.evaluation.beyond_accuracy import KEYS as BEYOND_ACCURACY
from recsys.evaluation.beyond_accuracy import beyond_accuracy
from recsys.models import BaseRecommender, create, model_class

RANKING_KEYS = ("precision", "recall", "ndcg", "map", "hit_rate")


def metric_keys(k: int = 10, *, with_ratings: bool = True) -> list[str]:
    """The metric names ``evaluate_model`` returns for list length ``k``."""
    keys = [f"{name}_at_{k}" for name in RANKING_KEYS] + ["mrr"]
    if with_ratings:
        keys += ["rmse", "mae"]
    return keys + [*BEYOND_ACCURACY, "fit_seconds", "recommend_seconds"]


def _index_matrix(
    frame: pd.DataFrame, users: NDArray[np.int64], item_index: NDArray[np.int64], k: int
) -> NDArray[np.int64]:
    """``(len(users), k)`` dense item indices of each listed user's list, ``-1`` padded."""
    out = np.full((users.size, k), -1, dtype=np.int64)
    if frame.empty:
        return out
    listed = frame[USER_ID].to_numpy(dtype=np.int64)
    row = np.searchsorted(users, listed)
    col = frame["rank"].to_numpy(dtype=np.int64) - 1
    # lists of users outside ``users`` are left out, not written into a neighbour's row
    known = (row < users.size) & (users[np.clip(row, 0, max(users.size - 1, 0))] == listed)
    ok = known & (col < k) & (item_index >= 0)
    out[row[ok], col[ok]] = item_index[ok]
    return out


def _item_vectors(items: Vocabulary, train: Interactions) -> sparse.csr_matrix:
    """Genre flags when the items table has genres, else the item's training rating column."""
    if train.item_features is not None:
        genres = metrics.genre_vectors(train.item_features, items.ids)
        if genres is not None and genres.nnz > 0:
            return genres
    frame = train.frame
    iidx = items.index(frame[ITEM_ID].to_numpy())
    uidx = train.users.index(frame[USER_ID].to_numpy())
    ok = (iidx >= 0) & (uidx >= 0)
    return sparse.csr_matrix(
        (frame[RATING].to_numpy(dtype=np.float64)[ok], (iidx[ok], uidx[ok])),
        shape=(len(items), len(train.users)),
    )


def _item_user_counts(train: Interactions, items: Vocabulary) -> NDArray[np.int64]:
    """How many distinct training users rated each item of ``items`` (``0`` for items
    outside the training data): the CSR matrix stores each (user, item) pair once."""
    counts = np.bincount(train.matrix().indices, minlength=len(train.items))
    position = items.index(train.items.ids)
    known = position >= 0
    out = np.zeros(len(items), dtype=np.int64)
    out[position[known]] = counts[known]
    return out


def list_metrics(
    recommendations: pd.DataFrame,
    test: pd.DataFrame,
    train: Interactions,
    *,
    k: int = 10,
    items: Vocabulary | None = None,
) -> dict[str, float]:
    """Ranking and beyond-accuracy metrics of ready-made top-``k`` lists.

    For recommenders outside this library (the peer rows of the benchmark) as well as ours.

    Args:
        recommendations: ``user_id``, ``item_id``, ``rank`` rows (``RecList.frame``).
        test: held-out ratings; every row is relevant.
        train: the training interactions (popularity for novelty, item vectors, users).
        k: list length.
        items: the catalogue (defaults to ``train.items``).
    """
    items = train.items if items is None else items
    hits, n_relevant, evaluated = metrics.hit_matrix(recommendations, test, k)
    item_index = items.index(recommendations[ITEM_ID].to_numpy(dtype=np.int64))
    rec_index = _index_matrix(recommendations, evaluated, item_index, k)
    item_user_counts = _item_user_counts(train, items)
    quality = beyond_accuracy(rec_index, item_user_counts, len(train.users),
                              _item_vectors(items, train))
    return {
        f"precision_at_{k}": metrics.precision_at_k(hits, k),
        f"recall_at_{k}": metrics.recall_at_k(hits, n_relevant),
        f"ndcg_at_{k}": metrics.ndcg_at_k(hits, n_relevant),
        f"map_at_{k}": metrics.map_at_k(hits, n_relevant),
        f"hit_rate_at_{k}": metrics.hit_rate_at_k(hits),
        "mrr": metrics.mrr(hits),
        **quality,
    }


@dataclass(frozen=True)
class Evaluation:
    """The metrics of a fitted model and the lists they were computed from.

    Attributes:
        metrics: the dict described in the module docstring.
        lists: ``user_id``, ``item_id``, ``score``, ``rank`` rows: each test user's top
            ``depth`` list (the metrics read its first ``k`` ranks).
    """

    metrics: dict[str, float]
    lists: pd.DataFrame


def evaluate_model(
    model: BaseRecommender, train: Interactions, test: pd.DataFrame, *, k: int = 10
) -> dict[str, float]:
    """Metrics of an already fitted ``model`` on ``test`` (nothing is fitted here).

    Args:
        model: a recommender fitted on ``train``.
        train: the training interactions (for popularity, item vectors and the user count).
        test: held-out ratings (``user_id``, ``item_id``, ``rating``...).
        k: list length.

    Returns:
        The metric dict described in the module docstring.
    """
    return evaluate_lists(model, train, test, k=k).metrics


def evaluate_lists(
    model: BaseRecommender, train: Interactions, test: pd.DataFrame, *, k: int = 10,
    depth: int | None = None,
) -> Evaluation:
    """``evaluate_model``, keeping each test user's top-``depth`` list (``depth >= k``; the
    default is ``k``) for metrics at other cut-offs: one ranking pass serves both, which at
    62k movies saves a minute per variant. A deeper list begins with the shorter one, since
    ``top_k`` breaks ties by item index."""
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    depth = k if depth is None else depth
    if depth < k:
        raise ValueError(f"depth must be >= k ({k}), got {depth}")
    if test.empty:
        raise ValueError("the test set is empty: nothing to evaluate")
    model._check_fitted()
    users = np.unique(test[USER_ID].to_numpy(dtype=np.int64))
    start = time.perf_counter()
    lists = model.recommend(users, k=depth, exclude_seen=True).frame
    recommend_seconds = time.perf_counter() - start
    top = lists[lists["rank"] <= k] if depth > k else lists
    listed = list_metrics(top, test, train, k=k, items=model.items_)
    result = {key: listed[key] for key in list(listed)[:6]}
    if model.predicts_ratings and RATING in test.columns:
        predicted = model.predict(test[USER_ID].to_numpy(), test[ITEM_ID].to_numpy())
        result["rmse"] = metrics.rmse(test[RATING].to_numpy(), predicted)
        result["mae"] = metrics.mae(test[RATING].to_numpy(), predicted)
    for key in BEYOND_ACCURACY:
        result[key] = listed[key]
    result["fit_seconds"] = float(getattr(model, "fit_seconds_", float("nan")))
    result["recommend_seconds"] = float(recommend_seconds)
    return Evaluation(result, lists)


def _with_seed(name: str, params: Mapping[str, Any], seed: int | None) -> dict[str, Any]:
    """``params`` plus ``seed`` when the model's config has a ``seed`` field not given."""
    out = dict(params)
    if seed is not None and "seed" not in out and "seed" in model_class(name).config_class().model_fields:
        out["seed"] = seed
    return out


def fit_and_evaluate(
    name: str,
    params: Mapping[str, Any] | None,
    train_ratings: pd.DataFrame,
    test_ratings: pd.DataFrame,
    items: pd.DataFrame | None,
    *,
    k: int = 10,
    seed: int | None = 42,
) -> tuple[BaseRecommender, dict[str, float]]:
    """Create model ``name`` with ``params``, fit it on ``train_ratings``, evaluate on the test.

    Args:
        name: a key of ``recsys.models.MODELS``.
        params: config values (validated by the model's config).
        train_ratings, test_ratings: the two sides of a ``Split``.
        items: the items table (item features), or ``None``.
        k: list length.
        seed: passed as the model's ``seed`` when its config has one and ``params`` do not.

    Returns:
        The fitted model and its metrics.
    """
    model, evaluation = fit_and_evaluate_lists(name, params, train_ratings, test_ratings,
                                               items, k=k, seed=seed)
    return model, evaluation.metrics


def fit_and_evaluate_lists(
    name: str,
    params: Mapping[str, Any] | None,
    train_ratings: pd.DataFrame,
    test_ratings: pd.DataFrame,
    items: pd.DataFrame | None,
    *,
    k: int = 10,
    seed: int | None = 42,
    depth: int | None = None,
) -> tuple[BaseRecommender, Evaluation]:
    """``fit_and_evaluate`` keeping the test users' top-``depth`` lists (``evaluate_lists``)."""
    model = create(name, **_with_seed(name, params or {}, seed))
    return _fit_then_evaluate(model, train_ratings, test_ratings, items, k=k, depth=depth)


def refit_and_evaluate(
    model: BaseRecommender,
    train_ratings: pd.DataFrame,
    test_ratings: pd.DataFrame,
    items: pd.DataFrame | None,
    *,
    k: int = 10,
) -> tuple[BaseRecommender, dict[str, float]]:
    """A fresh model of ``model``'s class and configuration (seed included), fitted on
    ``train_ratings`` and evaluated on ``test_ratings``; ``model`` itself is left alone.

    This is how a registered champion is compared with a challenger trained on other data:
    the champion as fitted may have trained on most of the new test ratings (a new split of
    grown data), which a seen-item-excluding evaluation punishes heavily, so its
    configuration is fitted again on the challenger's training split.
    """
    refitted, evaluation = _fit_then_evaluate(type(model)(model.config), train_ratings,
                                              test_ratings, items, k=k, depth=None)
    return refitted, evaluation.metrics


def _fit_then_evaluate(
    model: BaseRecommender,
    train_ratings: pd.DataFrame,
    test_ratings: pd.DataFrame,
    items: pd.DataFrame | None,
    *,
    k: int,
    depth: int | None,
) -> tuple[BaseRecommender, Evaluation]:
    train = Interactions.from_frame(train_ratings, items)
    model.fit(train)
    return model, evaluate_lists(model, train, test_ratings, k=k, depth=depth)
