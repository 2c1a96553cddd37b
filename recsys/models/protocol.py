"""What every recommender offers (the ``Recommender`` protocol), what it returns
(``RecList``) and the one ``top_k`` that sorts for all of them."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import ClassVar, Protocol, Self, runtime_checkable

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike, NDArray
from scipy import sparse

from recsys.data.interactions import Interactions
from recsys.data.schema import ITEM_ID, USER_ID


@dataclass(frozen=True)
class RecList:
    """Ranked recommendations for one or more users.

    Attributes:
        frame: one row per recommendation with ``user_id``, ``item_id``, ``score``, ``rank``
            (1-based), ranks contiguous per user.
        cold_start: users that got the fallback (unknown to the model).
    """

    frame: pd.DataFrame
    cold_start: frozenset[int] = field(default_factory=frozenset)

    def for_user(self, user: int) -> pd.DataFrame:
        return self.frame[self.frame[USER_ID] == user].reset_index(drop=True)

    def items_of(self, user: int) -> list[int]:
        return self.for_user(user)[ITEM_ID].tolist()

    def as_dict(self) -> dict[int, list[tuple[int, float]]]:
        out: dict[int, list[tuple[int, float]]] = {}
        for user, group in self.frame.groupby(USER_ID, sort=False):
            items, scores = group[ITEM_ID].tolist(), group["score"].tolist()
            out[int(user)] = list(zip(items, scores, strict=True))  # type: ignore[arg-type]
        return out


def top_k(
    scores: NDArray[np.floating], k: int, exclude: sparse.csr_matrix | NDArray[np.bool_] | None = None
) -> tuple[NDArray[np.int64], NDArray[np.float64]]:
    """Indices and values of the ``k`` best scores per row.

    NaN and excluded entries never appear; rows with fewer than ``k`` valid entries are
    padded with index ``-1`` and value NaN. Ties are broken by the lower item index, so
    results are deterministic.

    Args:
        scores: ``(n_rows, n_items)`` scores, higher is better.
        k: how many per row (``k >= 1``).
        exclude: ``(n_rows, n_items)`` boolean sparse or dense mask of entries to drop.
    """
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    work = np.array(scores, dtype=np.float64, copy=True, ndmin=2)
    n_rows, n_items = work.shape
    invalid = np.isnan(work)
    if exclude is not None:
        mask = (exclude.toarray() if isinstance(exclude, sparse.spmatrix | sparse.sparray)
                else np.asarray(exclude))
        invalid |= mask.astype(bool)
    work[invalid] = -np.inf
    kk = min(k, n_items)
    if kk == 0:
        return np.full((n_rows, k), -1, np.int64), np.full((n_rows, k), np.nan)
    if kk < n_items:
        part = np.argpartition(-work, kk - 1, axis=1)[:, :kk]
        # include every entry tied with the k-th value so tie-breaking by index is exact
        kth = np.take_along_axis(work, part, axis=1).min(axis=1, keepdims=True)
        cand_mask = work >= kth
    else:
        cand_mask = np.ones_like(work, dtype=bool)
    idx = np.full((n_rows, k), -1, np.int64)
    val = np.full((n_rows, k), np.nan)
    for r in range(n_rows):
        cand = np.flatnonzero(cand_mask[r] & ~invalid[r])
        if cand.size == 0:
            continue
        order = np.lexsort((cand, -work[r, cand]))[:kk]
        chosen = cand[order]
        idx[r, : chosen.size] = chosen
        val[r, : chosen.size] = work[r, chosen]
    return idx, val


@runtime_checkable
class Recommender(Protocol):
    """What every recommender offers, CF, content-based and neural alike."""

    name: ClassVar[str]

    def fit(self, interactions: Interactions) -> Self: ...

    def score(self, user: int, items: ArrayLike | None = None) -> NDArray[np.float64]: ...

    def recommend(
        self,
        users: int | Iterable[int],
        k: int = 10,
        *,
        exclude_seen: bool = True,
        candidates: ArrayLike | None = None,
    ) -> RecList: ...
