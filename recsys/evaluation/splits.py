"""Train/test splits of a ratings table, one function per evaluation protocol.

Protocols (``PROTOCOLS``):

``ms-stratified``
    The Microsoft Recommenders MovieLens benchmark split (``python_stratified_split`` with
    ``ratio=0.75``, ``min_rating=1``, ``filter_by="item"``, ``seed=42``, as called in
    ``examples/06_benchmarks/movielens.ipynb``): every row gets a uniform random key; within
    each group (an item by default) rows are ordered by that key and a row goes to training
    when its rank divided by the group size is ``<= 1 - test_size``. A group of ``n`` rows
    therefore keeps ``floor(0.75 n)`` of them in training and always has at least one test
    row (an item rated once is test only, a cold item for the models). The benchmark stratifies by *item*, so that is this protocol's default (it is
    what the published numbers we compare against used); ``filter_by="user"`` gives the per
    user variant (every user keeps 75 % of their history), which some papers prefer. The
    random keys come from ``as_rng(seed)`` and the prepared table is sorted by user and time,
    so the rows differ from the notebook's own split while the distribution is the same.
``temporal``
    One global cut at the ``1 - test_size`` quantile of the timestamps: ratings at or before
    the cut train, strictly later ones test (no rating of the future leaks into training).
``leave-last-out``
    Each user's last rating by time (ties broken by the larger item id) is their test rating;
    users with a single rating stay in training.
``sampled-last-out``
    Leave-last-out on a seeded sample of users, for big data: a ``test_size`` share of the
    users with at least two ratings is drawn at random and each holds out their last
    rating; everything else trains. Scoring cost grows with the sample, not the catalogue's
    users (16,000 users of ML-25M at ``test_size=0.1``).
``cold-start``
    A ``test_size`` share of the users who have more than ``cold_start_history`` ratings is
    drawn at random; each keeps their first ``cold_start_history`` ratings by time in training
    and all later ones are test. Every other user stays in training entirely.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from recsys.data.schema import ITEM_ID, TIMESTAMP, USER_ID
from recsys.sampling import as_rng, stratified_group_mask

Protocol = Literal["ms-stratified", "temporal", "leave-last-out", "sampled-last-out",
                   "cold-start"]
PROTOCOLS: tuple[str, ...] = ("ms-stratified", "temporal", "leave-last-out", "sampled-last-out",
                              "cold-start")
#: The stratification group of ``ms-stratified`` when none is named (the MS benchmark's).
MS_FILTER_BY: Literal["user", "item"] = "item"
COLD_START_HISTORY = 5


class UnknownProtocolError(ValueError):
    """A protocol name that is not in ``PROTOCOLS``."""


@dataclass(frozen=True)
class Split:
    """Disjoint training and test ratings made by one protocol.

    Attributes:
        train: training ratings (same columns as the input, fresh index).
        test: test ratings; every test rating counts as relevant for ranking metrics.
        protocol: the protocol name.
    """

    train: pd.DataFrame
    test: pd.DataFrame
    protocol: str


def stratified_mask(
    ratings: pd.DataFrame,
    *,
    test_size: float = 0.25,
    seed: int | np.random.Generator | None = 42,
    filter_by: Literal["user", "item"] = MS_FILTER_BY,
) -> NDArray[np.bool_]:
    """Training mask of the MS Recommenders stratified random split (see module docstring)."""
    if filter_by not in ("user", "item"):
        raise ValueError(f"filter_by must be 'user' or 'item', got {filter_by!r}")
    column = USER_ID if filter_by == "user" else ITEM_ID
    groups = ratings[column].to_numpy(dtype=np.int64)
    return stratified_group_mask(groups, 1.0 - test_size, as_rng(seed))


def temporal_mask(ratings: pd.DataFrame, *, test_size: float = 0.25) -> NDArray[np.bool_]:
    """Training mask of a global time cut at the ``1 - test_size`` timestamp quantile."""
    times = ratings[TIMESTAMP].to_numpy(dtype=np.int64)
    if times.size == 0:
        return np.zeros(0, dtype=bool)
    cut = np.quantile(times, 1.0 - test_size, method="lower")
    return times <= cut


def _time_order(ratings: pd.DataFrame) -> NDArray[np.int64]:
    """Row order by user, then time, then item id (a deterministic chronology)."""
    return np.lexsort(
        (
            ratings[ITEM_ID].to_numpy(dtype=np.int64),
            ratings[TIMESTAMP].to_numpy(dtype=np.int64),
            ratings[USER_ID].to_numpy(dtype=np.int64),
        )
    )


def _position_in_user(ratings: pd.DataFrame) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """Per row: its 0-based chronological position in its user's history and that history's size."""
    order = _time_order(ratings)
    users = ratings[USER_ID].to_numpy(dtype=np.int64)[order]
    starts = np.flatnonzero(np.r_[True, users[1:] != users[:-1]]) if users.size else np.zeros(0, int)
    sizes = np.diff(np.r_[starts, users.size])
    position_sorted = np.arange(users.size) - np.repeat(starts, sizes)
    position = np.empty(users.size, dtype=np.int64)
    size = np.empty(users.size, dtype=np.int64)
    position[order] = position_sorted
    size[order] = np.repeat(sizes, sizes)
    return position, size


def leave_last_out_mask(ratings: pd.DataFrame) -> NDArray[np.bool_]:
    """Training mask holding out each user's last rating (users with one rating keep it)."""
    position, size = _position_in_user(ratings)
    return ~((position == size - 1) & (size >= 2))


def sampled_last_out_mask(
    ratings: pd.DataFrame, *, test_size: float = 0.1,
    seed: int | np.random.Generator | None = 42,
) -> NDArray[np.bool_]:
    """Training mask holding out the last rating of a seeded ``test_size`` share of the users
    with at least two ratings."""
    position, size = _position_in_user(ratings)
    users = ratings[USER_ID].to_numpy(dtype=np.int64)
    eligible = np.unique(users[size >= 2])
    n_test = int(round(test_size * eligible.size))
    chosen = as_rng(seed).choice(eligible, size=n_test, replace=False) if n_test else eligible[:0]
    return ~(np.isin(users, chosen) & (position == size - 1))


def cold_start_mask(
    ratings: pd.DataFrame,
    *,
    test_size: float = 0.25,
    seed: int | np.random.Generator | None = 42,
    history: int = COLD_START_HISTORY,
) -> NDArray[np.bool_]:
    """Training mask of the cold-start protocol (see module docstring)."""
    if history < 0:
        raise ValueError(f"history must be >= 0, got {history}")
    position, size = _position_in_user(ratings)
    users = ratings[USER_ID].to_numpy(dtype=np.int64)
    eligible = np.unique(users[size > history])
    n_test = int(round(test_size * eligible.size))
    chosen = as_rng(seed).choice(eligible, size=n_test, replace=False) if n_test else eligible[:0]
    is_test_user = np.isin(users, chosen)
    return ~(is_test_user & (position >= history))


def split_ratings(
    ratings: pd.DataFrame,
    protocol: str = "ms-stratified",
    *,
    seed: int | np.random.Generator | None = 42,
    test_size: float = 0.25,
    filter_by: Literal["user", "item"] | None = None,
    cold_start_history: int = COLD_START_HISTORY,
) -> Split:
    """Split ``ratings`` into training and test ratings by ``protocol``.

    Args:
        ratings: a ratings table with ``user_id``, ``item_id``, ``rating``, ``timestamp``.
        protocol: one of ``PROTOCOLS``.
        seed: randomness of ``ms-stratified`` and ``cold-start`` (the others are
            deterministic).
        test_size: test share: of each group's rows (``ms-stratified``), of the time range
            quantile (``temporal``), of the eligible users (``cold-start``,
            ``sampled-last-out``); unused by
            ``leave-last-out``.
        filter_by: the stratification group of ``ms-stratified`` (default ``"item"``, as in
            the MS Recommenders benchmark).
        cold_start_history: ratings a cold-start test user keeps in training.

    Raises:
        UnknownProtocolError: for a protocol not in ``PROTOCOLS``.
        ValueError: for a ``test_size`` outside ``(0, 1)`` or missing columns.
    """
    if protocol not in PROTOCOLS:
        raise UnknownProtocolError(
            f"unknown protocol {protocol!r}; choose one of: {', '.join(PROTOCOLS)}"
        )
    if not 0.0 < test_size < 1.0:
        raise ValueError(f"test_size must be in (0, 1), got {test_size}")
    missing = [c for c in (USER_ID, ITEM_ID, TIMESTAMP) if c not in ratings.columns]
    if missing:
        raise ValueError(f"ratings lack column(s): {', '.join(missing)}")
    if protocol == "ms-stratified":
        mask = stratified_mask(
            ratings, test_size=test_size, seed=seed, filter_by=filter_by or MS_FILTER_BY
        )
    elif protocol == "temporal":
        mask = temporal_mask(ratings, test_size=test_size)
    elif protocol == "leave-last-out":
        mask = leave_last_out_mask(ratings)
    elif protocol == "sampled-last-out":
        mask = sampled_last_out_mask(ratings, test_size=test_size, seed=seed)
    else:
        mask = cold_start_mask(ratings, test_size=test_size, seed=seed, history=cold_start_history)
    train = ratings.loc[mask].reset_index(drop=True)
    test = ratings.loc[~mask].reset_index(drop=True)
    return Split(train=train, test=test, protocol=protocol)
