"""The like-with-like trigger and the quality signal on real ML-100K weeks."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from recsys.monitoring.drift import MonitorConfig
from recsys.monitoring.features import first_genre
from recsys.monitoring.simulation import SHIFTS, check, fitter, inject, train_champion
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
