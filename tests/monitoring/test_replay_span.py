"""``recsys.monitoring.replay_span``: a replay's default span widens only for long histories."""

from __future__ import annotations

import pandas as pd
import pytest

from recsys.monitoring.replay_span import DAY, MAX_REPLAY_SPANS, replay_span_days, span_count


def _days(*days: float) -> pd.DataFrame:
    return pd.DataFrame({"timestamp": [int(1e9 + d * DAY) for d in days]})


def test_span_count_cuts_from_the_first_rating() -> None:
    assert span_count(_days(0, 6.9), 7) == 1
    assert span_count(_days(0, 7), 7) == 2
    assert span_count(_days(3, 10, 20), 7) == 3
    assert span_count(_days(), 7) == 0


@pytest.mark.parametrize(("history_days", "expected"), [
    (7 * MAX_REPLAY_SPANS - 1, 7.0),  # 40 weeks: kept
    (7 * MAX_REPLAY_SPANS, 30.0),  # a 41st week: monthly (10 months)
    (30 * MAX_REPLAY_SPANS, 91.0),
    (3 * 365, 30.0),  # 37 months
    (22.6 * 365, 365.0),  # ml-latest-small: 1996-2018
    (100 * 365, 3 * 365.0),  # a century: whole years
])
def test_a_long_history_widens_to_the_first_length_that_fits(history_days: float,
                                                            expected: float) -> None:
    ratings = _days(0, history_days / 2, history_days)
    chosen = replay_span_days(ratings, 7)
    assert chosen == expected
    assert span_count(ratings, chosen) <= MAX_REPLAY_SPANS


def test_a_configured_span_is_never_shortened() -> None:
    assert replay_span_days(_days(0, 15 * 365), 100) == 182.0  # 55 spans of 100 days
    assert replay_span_days(_days(0, 15 * 365), 400) == 400


def test_bad_arguments_are_refused() -> None:
    with pytest.raises(ValueError, match="must be positive"):
        replay_span_days(_days(0, 10), 0)
    with pytest.raises(ValueError, match="must be positive"):
        replay_span_days(_days(0, 10), 7, max_spans=0)
