"""Users served from their whole recent history: the table, the engine and the reloader."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from bentos.model_source import model_from_folder
from bentos.reload import Reloader
from recsys.data.interactions import Interactions
from recsys.models import create
from recsys.monitoring.incoming import (
    add_pending,
    clear_pending,
    pending_path,
    recent_path,
    write_recent,
)
from recsys.monitoring.simulation import served_histories
from recsys.serving.config import ServeConfig
from recsys.serving.engine import RecommendationEngine
from recsys.serving.recent import RecentHistories, rank_recent, whole_histories

pytestmark = pytest.mark.unit


def _frame(rows: list[tuple[int, int, float, int]]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["user_id", "item_id", "rating", "timestamp"])


def test_histories_group_by_user_and_a_missing_table_is_none(tmp_path: Path) -> None:
    recent = RecentHistories.from_frame(_frame([(2, 5, 4.0, 1), (1, 7, 3.0, 2), (2, 9, 5.0, 3)]))
    assert len(recent) == 2 and 1 in recent and 3 not in recent
    items, ratings = recent.histories[2]
    assert items.tolist() == [5, 9] and ratings.tolist() == [4.0, 5.0]
    assert len(RecentHistories.read(tmp_path / "none.parquet")) == 0


def test_whole_histories_are_reference_plus_recent_newest_rating_wins() -> None:
    reference = _frame([(1, 10, 2.0, 1), (1, 11, 4.0, 2), (2, 10, 5.0, 3)])
    recent = _frame([(1, 10, 5.0, 9), (1, 12, 3.0, 10)])
    whole = whole_histories(reference, recent).sort_values("item_id")
    assert whole["user_id"].unique().tolist() == [1]  # user 2 rated nothing since
    assert whole[["item_id", "rating"]].values.tolist() == [[10, 5.0], [11, 4.0], [12, 3.0]]


def test_pending_batches_write_the_pending_users_histories(tmp_path: Path) -> None:
    reference = _frame([(1, 10, 2.0, 1), (2, 11, 4.0, 2)])
    for batch in (_frame([(1, 12, 5.0, 5)]), _frame([(3, 10, 1.0, 6)])):
        pending = add_pending(pending_path("d", tmp_path), batch)
        write_recent(recent_path("d", tmp_path), reference, pending)
    recent = RecentHistories.read(recent_path("d", tmp_path))
    assert sorted(recent.histories) == [1, 3]
    assert sorted(recent.histories[1][0].tolist()) == [10, 12]
    clear_pending("d", tmp_path)  # a retrain learnt them
    assert not pending_path("d", tmp_path).exists() and not recent_path("d", tmp_path).exists()


@pytest.fixture(scope="module")
def split(ml100k: tuple[pd.DataFrame, ...]) -> tuple[object, pd.DataFrame, pd.DataFrame]:
    """An item-KNN fitted on ML-100K before its last 10% of time, and what came after."""
    ratings, items = ml100k[0], ml100k[1]
    cut = ratings["timestamp"].quantile(0.9)
    before, after = ratings[ratings["timestamp"] <= cut], ratings[ratings["timestamp"] > cut]
    return create("item_knn").fit(Interactions.from_frame(before, items)), before, after


def test_rank_recent_is_the_fold_in_of_the_whole_history(split: tuple) -> None:
    model, before, after = split
    user = int(after["user_id"].value_counts().index[0])
    recent = RecentHistories.from_frame(whole_histories(before, after[after["user_id"] == user]))
    got = rank_recent(model, user, recent, 10)
    assert got is not None
    ids = model.items_.id_of(got[0]).tolist()
    items, ratings = recent.histories[user]
    expected = model.recommend_for_history(items, ratings, k=10).frame
    assert ids == expected["item_id"].tolist()
    assert np.allclose(got[1], expected["score"].to_numpy())
    assert not set(ids) & set(items.tolist())  # what they rated is excluded
    assert rank_recent(model, user + 10_000, recent, 10) is None  # no history: trained row
    mask = np.zeros(model.n_items, dtype=bool)
    mask[got[0][5:]] = True  # a platform filter: only the last five are candidates
    assert rank_recent(model, user, recent, 3, mask)[0].tolist() == got[0][5:8].tolist()


def test_the_replay_scores_users_from_what_they_rated_since_the_fit() -> None:
    ordered = _frame([(1, 10, 4.0, 0), (1, 11, 4.0, 10), (2, 12, 4.0, 11), (1, 13, 3.0, 20),
                      (3, 14, 5.0, 21)])
    span = pd.Series([0, 1, 1, 2, 2])
    recent = served_histories(ordered, span, until=1, batch_span=2)
    # user 1 rated in span 1 (after the fit, before the batch): whole history; user 3 has
    # nothing since the fit; user 2 is not in the batch
    assert sorted(recent.histories) == [1]
    assert sorted(recent.histories[1][0].tolist()) == [10, 11]
    assert len(served_histories(ordered, span, until=2, batch_span=2)) == 0


def test_engine_serves_recent_users_and_the_reloader_follows_the_table(
        served_model_dir: Path, ml100k: tuple[pd.DataFrame, ...], tmp_path: Path) -> None:
    engine = RecommendationEngine(model_from_folder(served_model_dir), ml100k[1])
    table = tmp_path / "recent.parquet"
    reloader = Reloader(engine, ServeConfig(), recent=table)
    newcomer, liked = 999_001, [50, 172, 181]
    assert engine.recommend(newcomer, k=5)["cold_start"] is True
    _frame([(newcomer, i, 5.0, n) for n, i in enumerate(liked)]).to_parquet(table, index=False)
    reloader.check()
    body = engine.recommend(newcomer, k=5)
    assert body["cold_start"] is False and body["note"] is None
    got = [m["item_id"] for m in body["items"]]
    assert got == [m["item_id"] for m in engine.recommend_new_user(liked, k=5)["items"]]
    # exclude_seen=False asks for the trained row (a fold-in leaves out what was rated)
    assert engine.recommend(newcomer, k=5, exclude_seen=False)["cold_start"] is True
    table.write_bytes(b"not parquet")  # a broken table keeps the last good one serving
    reloader.check()
    assert engine.recommend(newcomer, k=5)["cold_start"] is False
    table.unlink()
    reloader.check()
    assert engine.recommend(newcomer, k=5)["cold_start"] is True
    assert np.isfinite([m["score"] for m in engine.recommend(1, k=5)["items"]]).all()
