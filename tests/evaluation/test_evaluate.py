"""``evaluate_model`` / ``fit_and_evaluate`` on ML-100K, cross-checked against MS formulas."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from recsys.data.interactions import Interactions
from recsys.evaluation.evaluate import evaluate_model, fit_and_evaluate, metric_keys
from recsys.evaluation.splits import Split
from recsys.models import BaseRecommender, create

pytestmark = pytest.mark.model


@pytest.fixture(scope="module")
def popularity_run(
    ml100k: tuple[pd.DataFrame, ...], ml100k_split: Split
) -> tuple[object, dict[str, float]]:
    return fit_and_evaluate("popularity", {}, ml100k_split.train, ml100k_split.test, ml100k[1])


def _ms_ndcg_precision(recs: pd.DataFrame, test: pd.DataFrame, k: int) -> tuple[float, float]:
    """NDCG@k and Precision@k computed the MS Recommenders way, with pandas merges."""
    common = set(test["user_id"]) & set(recs["user_id"])
    hits = recs[recs["rank"] <= k].merge(test[["user_id", "item_id"]], on=["user_id", "item_id"])
    actual = test.groupby("user_id").size()
    dcg = (1 / np.log(1 + hits["rank"])).groupby(hits["user_id"]).sum()
    disc = 1 / np.log(1 + np.arange(1, k + 1))
    idcg = actual.clip(upper=k).map(lambda n: disc[:n].sum())
    ndcg = (dcg.reindex(idcg.index, fill_value=0) / idcg).loc[list(common)].sum() / len(common)
    precision = (hits.groupby("user_id").size() / k).sum() / len(common)
    return float(ndcg), float(precision)


def test_keys_and_ranges(popularity_run: tuple[object, dict[str, float]]) -> None:
    _, result = popularity_run
    assert list(result) == metric_keys(10, with_ratings=False)
    for key in ("precision_at_10", "recall_at_10", "ndcg_at_10", "map_at_10", "hit_rate_at_10",
                "mrr", "coverage", "diversity"):
        assert 0.0 <= result[key] <= 1.0, key
    assert result["novelty"] > 0
    assert result["fit_seconds"] > 0 and result["recommend_seconds"] > 0


def test_popularity_matches_ms_formulas(
    ml100k: tuple[pd.DataFrame, ...], ml100k_split: Split,
    popularity_run: tuple[object, dict[str, float]],
) -> None:
    model, result = popularity_run
    users = np.unique(ml100k_split.test["user_id"])
    recs = model.recommend(users, k=10).frame  # type: ignore[attr-defined]
    ndcg, precision = _ms_ndcg_precision(recs, ml100k_split.test, 10)
    assert result["ndcg_at_10"] == pytest.approx(ndcg)
    assert result["precision_at_10"] == pytest.approx(precision)
    # most-popular on ML-100K is far from random but below the personalised models
    assert 0.15 < result["ndcg_at_10"] < 0.35


class _MeanRating(BaseRecommender):
    """Predicts every rating as the item's training mean (a known-answer rating model)."""

    name = "popularity"  # only used in memory, never saved
    predicts_ratings = True

    def _fit(self, data: Interactions) -> None:
        matrix = data.matrix()
        counts = np.diff(matrix.tocsc().indptr)
        sums = np.asarray(matrix.sum(axis=0)).ravel()
        self.means_ = np.where(counts > 0, sums / np.maximum(counts, 1), np.nan)

    def _score_users(self, user_index: np.ndarray) -> np.ndarray:
        return np.tile(self.means_, (len(user_index), 1))


def test_rating_metrics_only_for_rating_models(
    ml100k: tuple[pd.DataFrame, ...], ml100k_split: Split
) -> None:
    train = Interactions.from_frame(ml100k_split.train, ml100k[1])
    test = ml100k_split.test
    popularity = create("popularity", mode="damped_mean").fit(train)
    assert "rmse" not in evaluate_model(popularity, train, test, k=5)

    model = _MeanRating().fit(train)
    result = evaluate_model(model, train, test, k=5)
    assert list(result) == metric_keys(5, with_ratings=True)
    item_mean = ml100k_split.train.groupby("item_id")["rating"].mean()
    expected = test["item_id"].map(item_mean).fillna(ml100k_split.train["rating"].mean())
    assert result["rmse"] == pytest.approx(np.sqrt(((test["rating"] - expected) ** 2).mean()))
    assert result["mae"] == pytest.approx((test["rating"] - expected).abs().mean())


def test_empty_test_and_bad_k_are_errors(ml100k_split: Split, ml100k: tuple[pd.DataFrame, ...]) -> None:
    train = Interactions.from_frame(ml100k_split.train.head(500), ml100k[1])
    model = create("popularity").fit(train)
    with pytest.raises(ValueError, match="empty"):
        evaluate_model(model, train, ml100k_split.test.head(0))
    with pytest.raises(ValueError, match="k must be"):
        evaluate_model(model, train, ml100k_split.test, k=0)


@pytest.mark.unit
def test_lists_of_users_without_test_ratings_are_left_out() -> None:
    """A list for a user with no held-out rating must not land in another user's row:
    coverage, novelty and diversity are computed over the test users' lists only."""
    from recsys.evaluation.evaluate import list_metrics

    train = Interactions.from_frame(pd.DataFrame({
        "user_id": [1, 1, 2, 2, 3, 3], "item_id": [1, 2, 3, 4, 5, 1],
        "rating": [5.0] * 6, "timestamp": np.arange(6),
    }))
    test = pd.DataFrame({"user_id": [1, 3], "item_id": [3, 2], "rating": [4.0, 4.0],
                         "timestamp": [9, 9]})
    # user 2 (no test rating) listed last, after user 3 whose row it used to overwrite
    lists = pd.DataFrame({"user_id": [1, 1, 3, 3, 2, 2], "item_id": [3, 4, 2, 3, 1, 5],
                          "rank": [1, 2, 1, 2, 1, 2]})
    with_extra = list_metrics(lists, test, train, k=2)
    without = list_metrics(lists[lists["user_id"] != 2], test, train, k=2)
    assert with_extra == pytest.approx(without)
    assert without["coverage"] == pytest.approx(3 / 5)  # items 2, 3, 4
