"""Users served from their whole, up-to-date history rather than their trained rows.

A model's users are frozen at training time: its rows hold what each had rated then. What a
viewer rated since is not model knowledge but input, and it should count at once, not
after the next retrain. The drift monitor keeps those ratings anyway (pending, until a
retrain learns them: ``recsys.monitoring.incoming``), and alongside them it writes the
*whole* histories of the users who rated since (their reference ratings plus the pending
ones). Such a user is then scored from that history through the model's fold-in (the
one that serves new visitors, ``rank_history``); everyone else from the trained row, as before.

A whole history is right for any model, so the table needs no model version: a champion
that has learnt those ratings scores them the same way. A model that cannot fold in a
history (its answer is the cold-start fallback) keeps its frozen rows.

The service (``recsys.serving.engine``) and the replay that measures retraining policies
(``recsys.monitoring.simulation``) both use ``rank_recent``, so what the replay scores
is what the service serves.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from recsys.data.prepare import merge_new_ratings
from recsys.data.schema import ITEM_ID, RATING, USER_ID


@dataclass(frozen=True)
class RecentHistories:
    """Whole histories by user: ``user -> (item ids, ratings)``."""

    histories: dict[int, tuple[NDArray[np.int64], NDArray[np.float64]]] = field(
        default_factory=dict)

    def __len__(self) -> int:
        return len(self.histories)

    def __contains__(self, user: object) -> bool:
        return user in self.histories

    def get(self, user: int) -> tuple[NDArray[np.int64], NDArray[np.float64]] | None:
        return self.histories.get(user)

    @classmethod
    def from_frame(cls, frame: pd.DataFrame) -> RecentHistories:
        """Group a ratings table (``user_id``, ``item_id``, ``rating``) by user."""
        if frame.empty:
            return cls()
        ordered = frame.sort_values(USER_ID, kind="stable")
        users = ordered[USER_ID].to_numpy(dtype=np.int64)
        items = ordered[ITEM_ID].to_numpy(dtype=np.int64)
        ratings = ordered[RATING].to_numpy(dtype=np.float64)
        starts = np.flatnonzero(np.r_[True, users[1:] != users[:-1]])
        stops = np.r_[starts[1:], users.size]
        return cls({int(users[a]): (items[a:b], ratings[a:b])
                    for a, b in zip(starts, stops, strict=True)})

    @classmethod
    def read(cls, path: Path) -> RecentHistories:
        """The table at ``path`` (Parquet); none when there is no file."""
        if not path.is_file():
            return cls()
        return cls.from_frame(pd.read_parquet(path, columns=[USER_ID, ITEM_ID, RATING]))


def whole_histories(reference: pd.DataFrame, recent: pd.DataFrame) -> pd.DataFrame:
    """The whole histories of ``recent``'s users: their ``reference`` ratings plus
    ``recent`` (a pair rated again keeps its newest rating)."""
    users = recent[USER_ID].unique()
    return merge_new_ratings(reference[reference[USER_ID].isin(users)], recent)


def pending_histories(reference: pd.DataFrame, pending: pd.DataFrame | None,
                      batch: pd.DataFrame) -> RecentHistories:
    """What the service scores ``batch``'s users from while ``pending`` (ratings since
    ``reference``, the model's training data) is not learnt: the whole histories of the
    batch users with pending ratings."""
    if pending is None or pending.empty:
        return RecentHistories()
    mine = pending[pending[USER_ID].isin(batch[USER_ID].unique())]
    if mine.empty:
        return RecentHistories()
    return RecentHistories.from_frame(whole_histories(reference, mine))


def rank_recent(model: Any, user_id: int, recent: RecentHistories, k: int,
                candidate_mask: NDArray[np.bool_] | None = None
                ) -> tuple[NDArray[np.int64], NDArray[np.float64]] | None:
    """``user_id``'s ``k`` best (item indices, scores) from their whole history in
    ``recent`` (``BaseRecommender.rank_history``, padded with ``-1``); ``None`` when it has
    none for them or ``model`` cannot fold a history in (then serve the trained row)."""
    history = recent.get(user_id)
    if history is None:
        return None
    ranked: tuple[NDArray[np.int64], NDArray[np.float64]] | None = model.rank_history(
        history[0], history[1], k, candidate_mask=candidate_mask)
    return ranked
