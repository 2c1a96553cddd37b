"""Randomness and stratified draws shared by models, splits, attacks and detectors.

A low module: it imports nothing from ``recsys``, so any layer may use it.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray


def as_rng(seed: int | np.random.Generator | None) -> np.random.Generator:
    """Normalise a seed or generator into a ``numpy`` generator (the one place for it)."""
    if isinstance(seed, np.random.Generator):
        return seed
    return np.random.default_rng(seed)


def stratified_group_mask(
    groups: NDArray[np.int64], train_share: float, rng: np.random.Generator
) -> NDArray[np.bool_]:
    """True for rows whose within-group rank / group size is ``<= train_share``.

    Every row gets a uniform random key and is ranked by it within its group (the draw of
    MS Recommenders' ``python_stratified_split``): a group of ``n`` rows keeps
    ``floor(train_share * n)`` of them.
    """
    keys = np.asarray(rng.random(groups.shape[0]), dtype=np.float64)
    order = np.lexsort((keys, groups))
    sorted_groups = groups[order]
    starts = np.flatnonzero(np.r_[True, sorted_groups[1:] != sorted_groups[:-1]])
    sizes = np.diff(np.r_[starts, sorted_groups.shape[0]])
    rank = np.arange(sorted_groups.shape[0]) - np.repeat(starts, sizes) + 1
    in_train_sorted = rank / np.repeat(sizes, sizes) <= train_share
    mask = np.empty(groups.shape[0], dtype=bool)
    mask[order] = in_train_sorted
    return mask


def item_stratified_holdout(
    item_index: NDArray[np.int64], share: float, rng: np.random.Generator
) -> NDArray[np.bool_]:
    """True for the rows held out: per item, the rows whose random rank / count > 1 - share.

    The draw of ``ms-stratified`` by item: an item rated ``n`` times keeps
    ``floor((1 - share) n)`` ratings, so one rated once is held out entirely (a cold item,
    as in the test split).
    """
    return ~stratified_group_mask(item_index, 1.0 - share, rng)
