"""How often staleness may retrain: a retrain budget (a token bucket over spans).

Staleness (``recsys.monitoring.staleness``) says what a retrain would learn, but a stale
champion's loss per batch is noisy: neither the unlearnt ratings nor the refresh gap tell
well which of two successive batches a retrain pays most after. A threshold alone therefore
spends retrains evenly, and a lower threshold spends more of them. The budget fixes the
spending instead: ``rate`` retrains per span on average, at most ``burst`` banked, so quiet
spans save retrains that a burst of new users or movies spends on successive batches.

A quality drop and served-traffic drift are not held back by the budget (they say the
champion's output changed, not only that time passed), but they spend from it: the
staleness retrains after them wait until it refills. Like-with-like drift is not held back
either when the champion has at least ``drift_min_spans`` reference spans of ratings to
learn (``drift_is_urgent``); a statistic that drifts while it has less (most often the
rating mix of a week of known users) waits for the budget like staleness: on the replays a
retrain pays with what it learns, and such a retrain, right after another, learnt little
(benchmarks/results/drift-simulation.md).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

#: The tokens one retrain costs.
RETRAIN_COST = 1.0


@dataclass
class RetrainBudget:
    """A token bucket: ``rate`` tokens per span, at most ``burst``; a retrain costs one.

    A new bucket holds one span's allowance (``rate``): what accrued over the first batch's
    span since the champion's training data. So over ``n`` batches staleness retrains at
    most ``rate * n`` times, however few the batches (a full bucket at the start would
    allow ``burst - rate`` more). Tokens may go below zero (a drift retrain with nothing
    banked); staleness then waits until they are back at one.
    """

    rate: float
    burst: float
    tokens: float | None = None

    def __post_init__(self) -> None:
        if self.tokens is None:
            self.tokens = self.rate

    @property
    def balance(self) -> float:
        return float(self.rate if self.tokens is None else self.tokens)

    def allows(self) -> bool:
        """Whether a staleness retrain may run now."""
        return self.balance >= RETRAIN_COST

    def spend(self) -> None:
        self.tokens = self.balance - RETRAIN_COST

    def refill(self, spans: float) -> None:
        """Add ``rate`` tokens per span elapsed (up to ``burst``)."""
        self.tokens = min(self.burst, self.balance + self.rate * max(spans, 0.0))


def drift_is_urgent(drifted: Sequence[str], unlearnt_spans: float, min_spans: float) -> bool:
    """Whether like-with-like drift retrains without waiting for the budget: a statistic
    drifted and the champion has at least ``min_spans`` reference spans of ratings it
    never learnt (``recsys.monitoring.staleness``)."""
    return bool(drifted) and unlearnt_spans >= min_spans


def budget_at(state: Mapping[str, Any], *, rate: float, burst: float, span_days: float,
              now: datetime) -> RetrainBudget:
    """The budget at ``now`` from a monitoring state (``recsys.monitoring.drift``'s state
    file): its tokens when last written, refilled for the spans since. Full without one
    (``opening_budget`` starts one from the champion's training data instead)."""
    budget = RetrainBudget(rate, burst, state.get("budget_tokens", burst))
    since = state.get("budget_at")
    if since is not None:
        elapsed = now - datetime.fromisoformat(str(since))
        budget.refill(elapsed / timedelta(days=span_days))
    return budget


def opening_budget(*, rate: float, burst: float, span_days: float, now: datetime,
                   trained_until: datetime) -> RetrainBudget:
    """The budget of a monitor that has none yet: what accrued since the newest rating the
    champion trained on (``rate`` per span, at most ``burst``), as the replay's bucket
    holds ``rate`` at its first batch."""
    budget = RetrainBudget(rate, burst, 0.0)
    budget.refill((now - trained_until) / timedelta(days=span_days))
    return budget


def spent_state(state: Mapping[str, Any], *, rate: float, burst: float, span_days: float,
                now: datetime) -> dict[str, Any]:
    """``state`` with one retrain spent from its budget at ``now``."""
    budget = budget_at(state, rate=rate, burst=burst, span_days=span_days, now=now)
    budget.spend()
    return {**state, "budget_tokens": round(budget.balance, 6), "budget_at": now.isoformat()}
