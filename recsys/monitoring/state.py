"""The monitor's state file: when the last retrain ran (the cooldown) and what is left of
the retrain budget (``recsys.monitoring.budget``)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from recsys.monitoring.budget import RetrainBudget, budget_at, opening_budget, spent_state

if TYPE_CHECKING:
    from recsys.monitoring.drift import MonitorConfig

DEFAULT_STATE = Path(".movierec/monitor/state.json")


def read_state(path: Path) -> dict[str, Any]:
    """The state (empty when there is none or it is unreadable: no retrain recorded)."""
    try:
        return dict(json.loads(path.read_text()))
    except (OSError, ValueError):
        return {}


def record_retrain(state_path: Path = DEFAULT_STATE, when: datetime | None = None,
                   config: MonitorConfig | None = None, **details: Any) -> None:
    """Remember that a retrain ran (starts the cooldown; spends from the retrain budget
    of ``config``, when given)."""
    when = when or datetime.now(UTC)
    state = read_state(state_path)
    if config is not None:
        state = spent_state(state, rate=config.retrain_budget, burst=config.retrain_burst,
                            span_days=config.span_days, now=when)
    state["last_retrain"] = when.isoformat()
    state["last_retrain_details"] = details
    _write(state_path, state)


def _write(state_path: Path, state: dict[str, Any]) -> None:
    state_path.parent.mkdir(parents=True, exist_ok=True)
    tmp = state_path.with_suffix(".tmp")
    tmp.write_text(json.dumps(state, indent=2, default=str))
    tmp.replace(state_path)


def cooldown_remaining(config: MonitorConfig, state_path: Path, now: datetime) -> timedelta | None:
    """Time left in the cooldown after the last retrain, or ``None`` when not cooling down."""
    last = read_state(state_path).get("last_retrain")
    if not last:
        return None
    left = datetime.fromisoformat(last) + timedelta(hours=config.cooldown_hours) - now
    return left if left > timedelta(0) else None


def budget_now(config: MonitorConfig, state_path: Path, now: datetime,
               trained_until: datetime | None = None) -> RetrainBudget:
    """The retrain budget at ``now``. A state without one opens it from ``trained_until``
    (the newest rating the champion trained on: ``opening_budget``) and writes it, so the
    retrain that follows spends from what this check saw; without either it is full."""
    state = read_state(state_path)
    if "budget_tokens" in state or trained_until is None:
        return budget_at(state, rate=config.retrain_budget, burst=config.retrain_burst,
                         span_days=config.span_days, now=now)
    budget = opening_budget(rate=config.retrain_budget, burst=config.retrain_burst,
                            span_days=config.span_days, now=now, trained_until=trained_until)
    _write(state_path, {**state, "budget_tokens": round(budget.balance, 6),
                        "budget_at": now.isoformat()})
    return budget
