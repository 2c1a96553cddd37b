"""What a retrain would learn: how stale the champion is.

Week-on-week statistics (``recsys.monitoring.trigger``) say when a batch differs from an
ordinary one; they do not say when the champion has fallen behind the data. A retrain pays
in proportion to what it would learn that the champion does not know: the ratings since
its training data by users or of movies it never saw (each one a user it can only serve
the popularity fallback, or a movie it can never recommend), and the new histories of the
users it does know (its users' rows are frozen at training time). Both are zero for a batch
like the reference with nothing pending, and both accumulate while no retrain takes the
new data in, so the trigger fires where retraining has piled up value, not on a schedule.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from recsys.data.schema import ITEM_ID, RATING, USER_ID
from recsys.monitoring.trigger import Calibration, batch_ndcg_per_user


@dataclass(frozen=True)
class Staleness:
    """How much the champion has not learnt: the ratings since its training data (the
    batch and the earlier batches no retrain took in) by users or of movies it never saw,
    in reference spans (``span_rows`` ratings each), and what the batch users' new
    histories would buy it (``refresh_gap``)."""

    unlearnt_rows: int
    spans: float
    refresh_gap: float | None
    refreshed_users: int
    stale: bool
    reason: str


def unlearnt_rows(model_ratings: pd.DataFrame, new: pd.DataFrame) -> int:
    """Ratings of ``new`` whose user or movie is not in ``model_ratings``."""
    if new.empty:
        return 0
    users = new[USER_ID].isin(model_ratings[USER_ID].unique())
    items = new[ITEM_ID].isin(model_ratings[ITEM_ID].unique())
    return int((~(users & items)).sum())


def refresh_gap(model: Any, model_ratings: pd.DataFrame, pending: pd.DataFrame,
                batch: pd.DataFrame, k: int = 10) -> tuple[float | None, int]:
    """The champion's NDCG@k on ``batch`` with its users' histories brought up to date
    (``pending``: their ratings since its training data, folded in through
    ``recommend_for_history``) minus its NDCG@k as trained, over all batch users (those
    with nothing pending count 0). The part of a retrain's gain that comes from what
    users did since: a quality signal that needs no refit. ``(None, 0)`` when the model
    cannot fold in a history.

    Returns:
        ``(gap, refreshed users)``.
    """
    truth = batch.groupby(USER_ID)[ITEM_ID].apply(set)
    movers = pending[pending[USER_ID].isin(truth.index)]
    if truth.empty or movers.empty:
        return 0.0, 0
    history = pd.concat([model_ratings[model_ratings[USER_ID].isin(movers[USER_ID].unique())],
                         movers], ignore_index=True)
    stale = pd.Series(batch_ndcg_per_user(model, batch, k), index=truth.index)
    discounts = 1.0 / np.log2(np.arange(2, k + 2))
    gains = []
    for _, rows in history.groupby(USER_ID):
        user = int(rows[USER_ID].to_numpy()[0])
        recs = model.recommend_for_history(rows[ITEM_ID].to_numpy(), rows[RATING].to_numpy(),
                                           k=k, user_id=user)
        if recs.cold_start:  # the model cannot fold in a history
            return None, 0
        items = recs.frame.sort_values("rank")[ITEM_ID].to_numpy()[:k]
        relevant = truth[user]
        hits = np.isin(items, list(relevant)).astype(float)
        fresh = float((hits * discounts[: len(hits)]).sum()) / float(
            discounts[: min(len(relevant), k)].sum())
        gains.append(fresh - float(stale[user]))
    return float(np.sum(gains)) / len(truth), len(gains)


def staleness(model: Any, model_ratings: pd.DataFrame, pending: pd.DataFrame,
              batch: pd.DataFrame, calibration: Calibration, *, max_spans: float,
              max_refresh_gap: float, k: int = 10) -> Staleness:
    """Whether the champion is stale enough that a retrain pays: the unlearnt ratings
    (``unlearnt_rows`` of the pending ratings and the batch) reach ``max_spans`` reference
    spans, or refreshing its users' histories would gain at least ``max_refresh_gap``
    NDCG@k on the batch (``refresh_gap``; not measured without a ``model``). A batch like
    the reference, with nothing pending, has neither."""
    new = pd.concat([pending, batch], ignore_index=True) if len(pending) else batch
    rows = unlearnt_rows(model_ratings, new)
    spans = rows / max(calibration.span_rows, 1.0)
    gap, refreshed = (refresh_gap(model, model_ratings, pending, batch, k)
                      if model is not None else (None, 0))
    by_rows, by_gap = spans >= max_spans, gap is not None and gap >= max_refresh_gap
    gap_text = "n/a" if gap is None else f"{gap:+.4f}"
    reason = (f"{rows} ratings by users or of movies the champion never saw since its "
              f"training data ({spans:.2f} reference spans, limit {max_spans:g}); its users' "
              f"new histories would gain {gap_text} NDCG@{k} on the batch (limit "
              f"{max_refresh_gap:g})")
    return Staleness(rows, round(spans, 3), None if gap is None else round(gap, 4), refreshed,
                     by_rows or by_gap, reason)
