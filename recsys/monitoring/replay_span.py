"""How a replay cuts the ratings into spans, and how long they are when the user does not say.

Spans are counted from the first rating (:func:`replay_spans`); the live monitor's
``recsys.monitoring.trigger.span_index`` counts back from the newest instead.

The live monitor checks one span of ``monitor.span_days`` (a week) at a time, and a replay
(``recsys.monitoring.simulation``) uses the same span when the dataset's history is short
enough. A long history in weeks is both slow and thin: ml-latest-small's 22 years are 1,088
weeks of 93 ratings on average, and the every-batch policy fits one model per batch, so the
replay would run for hours on batches too small for any like-with-like statistic. Past
:data:`MAX_REPLAY_SPANS` spans the replay therefore widens its span along
:data:`WIDER_SPANS_DAYS` (a month, a quarter, half a year, a year, then whole years) to the
first length that fits. The trigger's thresholds are in spans (calibration, staleness,
budget), so they carry over to the wider span unchanged.
"""

from __future__ import annotations

import math

import pandas as pd

from recsys.data.schema import TIMESTAMP
from recsys.monitoring.trigger import DAY

#: The most spans (the initial training period's included) a replay uses by default.
MAX_REPLAY_SPANS = 40
#: The span lengths, in days, a long history is widened to, in order.
WIDER_SPANS_DAYS: tuple[float, ...] = (30.0, 91.0, 182.0, 365.0)


def replay_spans(ratings: pd.DataFrame, span_days: float) -> pd.Series:
    """Which span of ``span_days`` each rating is in, 0 being the one that starts with the
    first rating."""
    start = int(ratings[TIMESTAMP].min())
    return ((ratings[TIMESTAMP] - start) // int(span_days * DAY)).astype(int)


def span_count(ratings: pd.DataFrame, span_days: float) -> int:
    """How many spans of ``span_days`` the replay cuts the ratings into."""
    return 0 if ratings.empty else int(replay_spans(ratings, span_days).max()) + 1


def replay_span_days(ratings: pd.DataFrame, span_days: float,
                     max_spans: int = MAX_REPLAY_SPANS) -> float:
    """``span_days`` when the ratings make at most ``max_spans`` spans of it; else the
    first of :data:`WIDER_SPANS_DAYS` (never shorter than ``span_days``) that does, else
    the whole number of years that does.

    Raises:
        ValueError: ``span_days`` or ``max_spans`` is not positive.
    """
    if span_days <= 0 or max_spans < 1:
        raise ValueError(f"span_days ({span_days}) and max_spans ({max_spans}) must be positive")
    if span_count(ratings, span_days) <= max_spans:
        return span_days
    for wider in WIDER_SPANS_DAYS:
        if wider > span_days and span_count(ratings, wider) <= max_spans:
            return wider
    years = math.ceil(span_count(ratings, 365.0) / max_spans)
    while span_count(ratings, 365.0 * years) > max_spans:
        years += 1
    return 365.0 * years
