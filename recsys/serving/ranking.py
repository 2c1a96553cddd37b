"""Each known user's ranked list, computed once per model load and filtered per request.

Scoring a user costs a matrix-vector product over every item (about 2 ms for EASE on
ML-100K); a request only needs the first ``k`` of a list that does not change until the
model does. ``RankedLists`` keeps the top ``depth`` item indices (seen items excluded) of
every user, computed in batches at load time when they fit in ``max_entries`` and on first
use otherwise, and answers a request by slicing, or by filtering with a platform mask.
A filter that leaves fewer than ``k`` of a truncated list falls back to full scoring.
"""

from __future__ import annotations

import threading
from collections import OrderedDict

import numpy as np
from numpy.typing import NDArray

from recsys.data.schema import ITEM_ID
from recsys.models.base import BaseRecommender

#: Positions kept per user: enough for k <= 100 after a selective platform filter.
DEFAULT_DEPTH = 500
#: Entries (users x depth) precomputed at load; beyond it lists are computed on first use.
DEFAULT_MAX_ENTRIES = 5_000_000
#: Users whose lists are precomputed per ``recommend`` call.
BATCH = 256


class RankedList:
    """Item indices (into the model's item vocabulary) and scores, best first."""

    __slots__ = ("index", "scores", "complete")

    def __init__(self, index: NDArray[np.int64], scores: NDArray[np.float64], complete: bool) -> None:
        self.index = index
        self.scores = scores
        #: whether the list holds every rankable item (else it was cut at ``depth``)
        self.complete = complete


class RankedLists:
    """Top-``depth`` lists of a model's users (seen items excluded) plus the fallback list.

    Args:
        model: a fitted recommender.
        depth: positions kept per user.
        max_entries: users x depth precomputed at construction; more users are ranked on
            first use and kept in an LRU of ``max_entries // depth`` users.
    """

    def __init__(self, model: BaseRecommender, depth: int = DEFAULT_DEPTH,
                 max_entries: int = DEFAULT_MAX_ENTRIES) -> None:
        self.model = model
        self.depth = max(1, min(depth, model.n_items))
        self._position = {int(u): i for i, u in enumerate(model.users_.ids.tolist())}
        self._lists: OrderedDict[int, RankedList] = OrderedDict()
        self._capacity = max(1, max_entries // self.depth)
        self._lock = threading.Lock()
        self.fallback = self._rank_unknown()
        if len(self._position) <= self._capacity:
            users = list(self._position)
            for start in range(0, len(users), BATCH):
                chunk = users[start : start + BATCH]
                for user, ranked in zip(chunk, self._rank(chunk), strict=True):
                    self._lists[user] = ranked

    def knows(self, user: int) -> bool:
        return user in self._position

    def _rank(self, users: list[int]) -> list[RankedList]:
        """Known ``users``' lists, straight from the model's scores to item indices (a
        62k-movie model's first answer for a user has no time for a table round trip)."""
        idx, val = self.model.rank_known(
            np.fromiter((self._position[u] for u in users), np.int64, count=len(users)),
            self.depth)
        out = []
        for row_idx, row_val in zip(idx, val, strict=True):
            n = int(np.count_nonzero(row_idx >= 0))
            out.append(RankedList(row_idx[:n].copy(), row_val[:n].copy(), complete=n < self.depth))
        return out

    def _rank_unknown(self) -> RankedList:
        """The list of a user the model does not know (its fallback scores)."""
        frame = self.model.recommend([_unknown_user(self._position)], self.depth).frame
        index = self.model.items_.index(frame[ITEM_ID].to_numpy())
        return RankedList(index, frame["score"].to_numpy(dtype=np.float64),
                          complete=index.size < self.depth)

    def of(self, user: int) -> RankedList:
        """``user``'s list (the fallback list for an unknown user)."""
        if user not in self._position:
            return self.fallback
        with self._lock:
            found = self._lists.get(user)
            if found is not None:
                self._lists.move_to_end(user)
                return found
        ranked = self._rank([user])[0]
        with self._lock:
            self._lists[user] = ranked
            while len(self._lists) > self._capacity:
                self._lists.popitem(last=False)
        return ranked

    def top(self, user: int, k: int, candidates: NDArray[np.bool_] | None = None
            ) -> tuple[NDArray[np.int64], NDArray[np.float64]] | None:
        """The first ``k`` (item indices, scores) of ``user``'s list, restricted to
        ``candidates`` (a mask over item indices); ``None`` when a truncated list holds
        fewer than ``k`` candidates (the caller then scores in full)."""
        ranked = self.of(user)
        if candidates is None:
            if ranked.index.size >= k or ranked.complete:
                return ranked.index[:k], ranked.scores[:k]
            return None
        keep = candidates[ranked.index]
        chosen = np.flatnonzero(keep)[:k]
        if chosen.size < k and not ranked.complete:
            return None
        return ranked.index[chosen], ranked.scores[chosen]


def _unknown_user(known: dict[int, int]) -> int:
    """An id no user of the model has (its list is the fallback)."""
    candidate = -1
    while candidate in known:
        candidate -= 1
    return candidate
