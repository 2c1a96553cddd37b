"""The retrain budget: a token bucket that staleness retrains wait for."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from recsys.monitoring.budget import RetrainBudget, budget_at, spent_state
from recsys.monitoring.drift import MonitorConfig
from recsys.monitoring.simulation import simulate
from recsys.monitoring.state import budget_now, read_state

NOW = datetime(1998, 3, 1, tzinfo=UTC)
WEEK = 7 * 24 * 3600
SILENT = {"new_user": 0.0, "new_item": 0.0, "rating": 0.0, "genre": 0.0}


def test_a_new_budget_holds_one_span_and_refills_up_to_its_burst() -> None:
    """One span's allowance at the start: over n batches at most rate * n staleness retrains."""
    budget = RetrainBudget(rate=0.5, burst=1.5)
    assert not budget.allows() and budget.balance == 0.5
    budget.refill(1)
    assert budget.allows() and budget.balance == 1.0
    budget.spend()
    assert not budget.allows() and budget.balance == 0.0
    budget.refill(10)
    assert budget.balance == 1.5
    retrains, budget = 0, RetrainBudget(rate=0.5, burst=1.5)
    for _ in range(15):  # a stale champion at every batch of a short replay
        if budget.allows():
            budget.spend()
            retrains += 1
        budget.refill(1)
    assert retrains == 7  # not 8: half of 15 at most


def test_a_monitor_without_a_budget_opens_it_from_the_training_data(tmp_path: Path) -> None:
    config = MonitorConfig()  # 0.5 per 7-day span, at most 1.5
    path = tmp_path / "state.json"
    first = budget_now(config, path, NOW, trained_until=NOW - timedelta(days=7))
    assert first.balance == pytest.approx(0.5) and not first.allows()
    assert read_state(path)["budget_tokens"] == 0.5  # the retrain after it spends from this
    later = budget_now(config, path, NOW + timedelta(days=7),
                       trained_until=NOW - timedelta(days=7))
    assert later.balance == pytest.approx(1.0)  # refilled from the state, not opened again
    old = budget_now(config, tmp_path / "old.json", NOW, trained_until=NOW - timedelta(days=700))
    assert old.balance == 1.5
    assert budget_now(config, tmp_path / "none.json", NOW).balance == 1.5  # age unknown: full


def test_a_drift_retrain_with_nothing_banked_delays_the_next_staleness_retrain() -> None:
    budget = RetrainBudget(rate=0.5, burst=1.5, tokens=0.5)
    budget.spend()  # drift retrains are not held back, they spend
    assert budget.balance == -0.5
    budget.refill(2)
    assert not budget.allows()
    budget.refill(1)
    assert budget.allows()


def test_the_state_file_budget_refills_with_the_time_since_it_was_spent() -> None:
    assert budget_at({}, rate=0.5, burst=1.5, span_days=7, now=NOW).balance == 1.5
    state = spent_state({}, rate=0.5, burst=1.5, span_days=7, now=NOW)
    assert state["budget_tokens"] == 0.5
    assert state["budget_at"] == NOW.isoformat()
    later = budget_at(state, rate=0.5, burst=1.5, span_days=7, now=NOW + timedelta(days=7))
    assert later.balance == pytest.approx(1.0) and later.allows()
    sooner = budget_at(state, rate=0.5, burst=1.5, span_days=7, now=NOW + timedelta(days=6))
    assert not sooner.allows()
    again = spent_state(state, rate=0.5, burst=1.5, span_days=7, now=NOW + timedelta(days=3))
    assert again["budget_tokens"] == pytest.approx(0.5 + 3 / 14 - 1)


def _stream_of_new_users(weeks: int = 14, initial: int = 6, seed: int = 0,
                         collapse: tuple[int, ...] = ()) -> pd.DataFrame:
    """``initial`` weeks of 300 ratings by a stable crowd, then weeks of 900 ratings (three
    reference spans) each by users nobody saw before, of the same movies and ratings (all
    1 star in the ``collapse`` weeks)."""
    rng = np.random.default_rng(seed)
    frames, next_user = [], 1000
    for week in range(weeks):
        n = 300 if week < initial else 900
        if week < initial:
            users = rng.integers(0, 200, n)
        else:
            users = next_user + rng.integers(0, 60, n)
            next_user += 60
        frames.append(pd.DataFrame({
            "user_id": users, "item_id": rng.zipf(1.6, n) % 300,
            "rating": np.ones(n) if week in collapse else rng.choice([3.0, 4.0, 5.0], n),
            "timestamp": 1_000_000 + week * WEEK + rng.integers(0, WEEK, n)}))
    return pd.concat(frames).drop_duplicates(["user_id", "item_id"]).reset_index(drop=True)


def test_staleness_retrains_stay_within_the_budget() -> None:
    """Batch after batch brings spans of ratings by new users: without a budget the
    on-drift policy retrained on every stale batch, now it spends ``retrain_budget`` per
    batch and holds the rest until the budget refills."""
    config = MonitorConfig(column_weights=SILENT, min_batch_rows=50)
    result = simulate(_stream_of_new_users(weeks=18), None, model="popularity",
                      initial_spans=6, config=config)
    frame = result.batches
    assert frame["drifted"].isin(["stale", ""]).all()  # no statistic drifted: staleness
    stale = (frame["unlearnt_spans"] >= config.staleness_spans).iloc[:-1]
    retrains = result.policies["on_drift"]["retrains"]
    assert stale.mean() >= 0.6
    assert retrains < stale.sum()  # the old rule's count
    assert retrains <= config.retrain_budget * len(stale) + config.retrain_burst
    assert frame["held_by_budget"].any()
    assert not (frame["held_by_budget"] & frame["retrain_on_drift"]).any()
    # a held batch is retrained on by the next stale batch the budget allows
    held = frame.index[frame["held_by_budget"]]
    assert all(frame.loc[n + 1:, "retrain_on_drift"].any() for n in held if n + 1 < len(frame) - 1)


def test_a_drifted_statistic_is_not_held_back_by_the_budget() -> None:
    """A rating collapse retrains with less than one retrain banked; it spends below zero
    and the staleness retrains after it wait for the budget to refill."""
    config = MonitorConfig(column_weights={**SILENT, "rating": 1.0}, min_batch_rows=50,
                           retrain_budget=0.25, retrain_burst=1.0)
    result = simulate(_stream_of_new_users(collapse=(8,)), None, model="popularity",
                      initial_spans=6, config=config)
    frame = result.batches.set_index("batch")
    assert "rating" in frame.loc[8, "drifted"] and frame.loc[8, "budget"] < 1
    assert frame.loc[8, "retrain_on_drift"] and not frame.loc[8, "held_by_budget"]
    assert frame.loc[8, "budget"] - 1 < 0  # it spent what was not banked
    assert frame.loc[9:, "held_by_budget"].any()


def _stable_crowd(weeks: int, constant: dict[int, float], seed: int = 0) -> pd.DataFrame:
    """Weeks of 300 ratings by the same 200 users of the same 300 movies; in the weeks of
    ``constant`` every rating is that value."""
    rng = np.random.default_rng(seed)
    frames = [pd.DataFrame({
        "user_id": rng.integers(0, 200, 300), "item_id": rng.integers(0, 300, 300),
        "rating": np.full(300, constant[week]) if week in constant
        else rng.choice([3.0, 4.0, 5.0], 300),
        "timestamp": 1_000_000 + week * WEEK + rng.integers(0, WEEK, 300)})
        for week in range(weeks)]
    return pd.concat(frames).drop_duplicates(["user_id", "item_id"]).reset_index(drop=True)


def test_drift_with_little_to_learn_waits_for_the_budget() -> None:
    """The rating mix of known users drifts in two successive weeks: the first retrains
    (one retrain banked), the second, with almost nothing unlearnt, waits until the budget
    has a retrain again instead of spending below zero."""
    config = MonitorConfig(column_weights={**SILENT, "rating": 1.0}, min_batch_rows=50,
                           retrain_budget=0.25, retrain_burst=1.0)
    # the budget opens at 0.25 and has one retrain banked by week 9
    result = simulate(_stable_crowd(18, {9: 1.0, 10: 5.0}), None, model="popularity",
                      initial_spans=6, config=config)
    frame = result.batches.set_index("batch")
    assert (frame["unlearnt_spans"] < config.drift_min_spans).all()
    assert "rating" in frame.loc[9, "drifted"] and frame.loc[9, "retrain_on_drift"]
    assert "rating" in frame.loc[10, "drifted"] and frame.loc[10, "budget"] < 1
    assert frame.loc[10, "held_by_budget"] and not frame.loc[10, "retrain_on_drift"]
    assert (frame["budget"] >= 0).all()  # nothing spent below zero
    banked = frame.index[(frame.index > 10) & (frame["budget"] >= 1)]
    retrained = frame.index[(frame.index > 10) & frame["retrain_on_drift"]]
    assert len(retrained) and retrained[0] == banked[0]
