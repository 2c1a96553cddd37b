"""The like-with-like trigger and the quality signal on real ML-100K weeks."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from recsys.data.interactions import Interactions
from recsys.monitoring.drift import MonitorConfig
from recsys.monitoring.features import first_genre
from recsys.monitoring.simulation import (
    SHIFTS,
    Champion,
    check,
    fitter,
    inject,
    train_champion,
)
from recsys.monitoring.staleness import refresh_gap, staleness, unlearnt_rows
from recsys.monitoring.trigger import calibrate, score_batch, unseen_pairs

pytestmark = pytest.mark.integration

WEEK = 7 * 24 * 3600


@pytest.fixture(scope="module")
def weeks(ml100k: tuple[pd.DataFrame, ...]) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """(the first 8 weeks, week 8, items)."""
    ratings, items = ml100k[0].sort_values("timestamp"), ml100k[1]
    week = (ratings["timestamp"] - ratings["timestamp"].min()) // WEEK
    return ratings[week < 8], ratings[week == 8], items


@pytest.fixture(scope="module")
def champion(weeks: tuple[pd.DataFrame, ...]) -> object:
    initial, _, items = weeks
    return train_champion(fitter("popularity", {}, items), initial, first_genre(items),
                          MonitorConfig())


def test_hour_and_weekday_do_not_decide_and_a_resample_does_not_drift(
    weeks: tuple[pd.DataFrame, ...]
) -> None:
    initial, _, items = weeks
    genre = first_genre(items)
    calibration = calibrate(initial, genre)
    assert len(calibration.spans) >= 5
    rng = np.random.default_rng(0)
    for _ in range(5):
        sample = initial.iloc[rng.integers(0, len(initial), 3000)]
        scores = score_batch(initial, sample, calibration, genre,
                             weights=MonitorConfig().column_weights, z_threshold=3.5)
        assert set(scores) == {"new_user", "new_item", "rating", "genre"}
        assert not any(s.drifted for s in scores.values()), scores


@pytest.mark.parametrize(("shift", "statistic"), [
    ("rating_collapse", "rating"), ("genre_shift", "genre"), ("new_users", "new_user"),
    ("new_items", "new_item")])
def test_each_injected_shift_drifts_in_its_own_statistic(
    weeks: tuple[pd.DataFrame, ...], champion: object, shift: str, statistic: str
) -> None:
    initial, week8, items = weeks
    genre = first_genre(items)
    batch = inject(shift, week8, initial, genre, np.random.default_rng(1))
    outcome = check(champion, batch, genre, MonitorConfig())  # type: ignore[arg-type]
    assert statistic in outcome.drifted, outcome
    assert shift in SHIFTS


def test_quality_is_measured_on_new_pairs_only(weeks: tuple[pd.DataFrame, ...],
                                               champion: object) -> None:
    initial, week8, items = weeks
    seen = initial.sample(2000, random_state=0)
    outcome = check(champion, seen, first_genre(items), MonitorConfig())  # type: ignore[arg-type]
    assert outcome.ndcg is None and not outcome.quality
    assert len(unseen_pairs(initial, week8)) == len(week8)


def test_an_ordinary_week_keeps_the_champions_quality(weeks: tuple[pd.DataFrame, ...],
                                                      champion: object) -> None:
    """The week after the training period: measured on its new pairs, within the level."""
    _, week8, items = weeks
    ordinary = check(champion, week8, first_genre(items), MonitorConfig())  # type: ignore[arg-type]
    assert ordinary.ndcg is not None and ordinary.ndcg > 0
    assert not ordinary.quality, ordinary


@pytest.fixture(scope="module")
def ease_champion(weeks: tuple[pd.DataFrame, ...]) -> object:
    initial, _, items = weeks
    return train_champion(fitter("ease", {"regularization": 200.0}, items), initial,
                          first_genre(items), MonitorConfig(), with_quality=False)


def test_a_batch_like_the_reference_is_not_stale(weeks: tuple[pd.DataFrame, ...],
                                                 ease_champion: Champion) -> None:
    initial, _, _ = weeks
    sample = initial.iloc[np.random.default_rng(3).integers(0, len(initial), 3000)]
    stale = staleness(ease_champion.model, initial, initial.iloc[:0], sample,
                      ease_champion.calibration, max_spans=1.5, max_refresh_gap=0.01)
    assert (stale.unlearnt_rows, stale.refresh_gap, stale.stale) == (0, 0.0, False)


def test_unlearnt_ratings_accumulate_until_a_retrain_pays(
        ml100k: tuple[pd.DataFrame, ...], weeks: tuple[pd.DataFrame, ...],
        ease_champion: Champion) -> None:
    """Week 9 alone is not enough to retrain for; week 8 pending plus week 9 is: the users
    who joined in week 8 and the new histories of the known ones."""
    ratings = ml100k[0]
    week = (ratings["timestamp"] - ratings["timestamp"].min()) // WEEK
    initial, week8, _ = weeks
    week9 = ratings[week == 9]
    calibration = ease_champion.calibration
    alone = staleness(ease_champion.model, initial, week9.iloc[:0], week9, calibration,
                      max_spans=1.5, max_refresh_gap=0.01)
    piled = staleness(ease_champion.model, initial, week8, week9, calibration,
                      max_spans=1.5, max_refresh_gap=0.01)
    assert alone.unlearnt_rows == unlearnt_rows(initial, week9)
    assert piled.unlearnt_rows == alone.unlearnt_rows + unlearnt_rows(initial, week8)
    assert piled.spans >= 1.5 > alone.spans and piled.stale and not alone.stale
    # refreshing the week-9 users with their week-8 ratings helps the champion
    assert alone.refresh_gap == 0.0 and piled.refresh_gap is not None
    assert piled.refresh_gap > 0 and piled.refreshed_users > 0


def test_a_model_that_cannot_fold_in_a_history_has_no_refresh_gap(
        weeks: tuple[pd.DataFrame, ...], ml100k: tuple[pd.DataFrame, ...]) -> None:
    from recsys.models.base import BaseRecommender

    class Frozen(BaseRecommender):  # scores known users only, like a model with no fold-in
        name = "frozen-test"

        def _fit(self, data: object) -> None:
            pass

        def _score_users(self, user_index: np.ndarray) -> np.ndarray:
            return np.zeros((len(user_index), self.n_items))

    initial, week8, items = weeks
    model = Frozen().fit(Interactions.from_frame(initial, items))
    ratings = ml100k[0]
    week9 = ratings[(ratings["timestamp"] - ratings["timestamp"].min()) // WEEK == 9]
    assert refresh_gap(model, initial, week8, week9) == (None, 0)



@pytest.fixture(scope="module")
def latest_small(tmp_path_factory: pytest.TempPathFactory, mirror: Path
                 ) -> tuple[pd.DataFrame, pd.DataFrame]:
    from recsys.data.fetch import fetch
    from recsys.data.prepare import prepare

    root = tmp_path_factory.mktemp("latest-small")
    fetch("ml-latest-small", cache_dir=root / "raw", source=mirror)
    prepare("ml-latest-small", raw_dir=root / "raw", out_dir=root / "processed")
    folder = root / "processed" / "ml-latest-small"
    return pd.read_parquet(folder / "ratings.parquet"), pd.read_parquet(folder / "items.parquet")


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_a_burst_of_new_users_triggers_on_ml_latest_small(
        latest_small: tuple[pd.DataFrame, pd.DataFrame], seed: int) -> None:
    """On ml-latest-small's quarters the count of new users varies so much that a burst
    doubling the batch with unseen users is no outlier of it (it missed on seed 1); the
    burst is what a retrain would learn, and staleness sees it on every seed."""
    ratings, items = latest_small
    config = MonitorConfig(span_days=91)
    quarter = (ratings["timestamp"] - ratings["timestamp"].min()) // (91 * 24 * 3600)
    initial, first = ratings[quarter < 16], ratings[quarter == 16]
    genre = first_genre(items)
    champion = train_champion(fitter("popularity", {}, items), initial, genre, config,
                              with_quality=False)
    burst = inject("new_users", first, initial, genre, np.random.default_rng(seed))
    outcome = check(champion, burst, genre, config, seed)
    assert outcome.drift and outcome.stale, outcome
    assert outcome.staleness.spans >= config.staleness_spans
    # while a resample of the training period, with nothing new, is not stale
    sample = initial.iloc[np.random.default_rng(seed).integers(0, len(initial), len(first))]
    assert not check(champion, sample, genre, config, seed).drift
