"""Recommendation-quality metrics beyond accuracy, for top-k lists (sparse, one pass).

For an evaluated model (``evaluate_model``) and for a window of served lists (the
inference log, ``served_lists_quality``):

- ``coverage``: distinct recommended items / catalogue size;
- ``avg_rec_popularity``: mean over lists of the mean popularity of its items, popularity
  being the share of training users who rated the item (ARP, Abdollahpouri et al. 2019);
- ``gini_exposure``: Gini coefficient of how often each catalogue item is recommended
  (0: every item shown equally, 1: one item takes all exposure);
- ``novelty``: mean self-information ``-log2 p_i`` of recommended items (Zhou et al. 2010);
- ``personalisation``: ``1 -`` the mean overlap ``|L_u & L_v| / k`` of two users' lists.
  Summed over all pairs the overlaps are ``sum_i c_i (c_i - 1)`` with ``c_i`` the number of
  lists holding item ``i``, so no users x users matrix is formed;
- ``diversity``: intra-list diversity, ``1 -`` mean pairwise cosine of genre vectors.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike, NDArray
from scipy import sparse

from recsys.data.schema import ITEM_ID, USER_ID
from recsys.evaluation import metrics

#: The keys ``beyond_accuracy`` returns, in leaderboard order.
KEYS = ("coverage", "avg_rec_popularity", "gini_exposure", "novelty", "personalisation",
        "diversity")


def exposure_counts(recommended_index: NDArray[np.int64], n_catalogue: int) -> NDArray[np.int64]:
    """How many lists hold each catalogue item (``-1`` padding ignored)."""
    idx = np.asarray(recommended_index, dtype=np.int64).ravel()
    return np.bincount(idx[idx >= 0], minlength=n_catalogue)


def gini(values: ArrayLike) -> float:
    """Gini coefficient of non-negative ``values`` (0 when all are equal or all zero)."""
    x = np.sort(np.asarray(values, dtype=np.float64).ravel())
    n, total = x.size, x.sum()
    if n == 0 or total <= 0:
        return 0.0
    ranks = np.arange(1, n + 1)
    return float(np.sum((2 * ranks - n - 1) * x) / (n * total))


def personalisation(recommended_index: NDArray[np.int64], n_catalogue: int) -> float:
    """``1 -`` mean overlap of two lists, over all pairs of lists (see the module docstring)."""
    recs = np.asarray(recommended_index, dtype=np.int64)
    lists = recs.shape[0] if recs.ndim == 2 else 0
    if lists < 2:
        return 0.0
    k = float((recs >= 0).sum(axis=1).mean())
    if k == 0:
        return 0.0
    counts = exposure_counts(recs, n_catalogue).astype(np.float64)
    overlap = float(np.sum(counts * (counts - 1))) / (lists * (lists - 1) * k)
    return 1.0 - overlap


def avg_rec_popularity(recommended_index: NDArray[np.int64], item_user_counts: ArrayLike,
                       n_users: int) -> float:
    """Mean over lists of the mean share of training users who rated the list's items."""
    recs = np.asarray(recommended_index, dtype=np.int64)
    if recs.size == 0 or n_users <= 0:
        return 0.0
    share = np.asarray(item_user_counts, dtype=np.float64) / n_users
    valid = recs >= 0
    values = np.where(valid, share[np.where(valid, recs, 0)], 0.0)
    per_list = values.sum(axis=1) / np.maximum(valid.sum(axis=1), 1)
    return float(per_list[valid.any(axis=1)].mean()) if valid.any() else 0.0


def beyond_accuracy(
    recommended_index: NDArray[np.int64],
    item_user_counts: ArrayLike,
    n_users: int,
    item_vectors: sparse.spmatrix | None = None,
) -> dict[str, float]:
    """Every metric of ``KEYS`` for ``(n_lists, k)`` dense item indices (``-1`` padded).

    Args:
        recommended_index: the lists, as indices into the catalogue.
        item_user_counts: per catalogue item, the number of training users who rated it.
        n_users: training users.
        item_vectors: ``(n_catalogue, n_features)`` genre flags (``diversity`` is 0 without).
    """
    counts = np.asarray(item_user_counts, dtype=np.float64)
    n_catalogue = counts.size
    recs = np.asarray(recommended_index, dtype=np.int64)
    return {
        "coverage": metrics.catalogue_coverage(recs, n_catalogue),
        "avg_rec_popularity": avg_rec_popularity(recs, counts, n_users),
        "gini_exposure": gini(exposure_counts(recs, n_catalogue)),
        "novelty": metrics.novelty(recs, counts, n_users),
        "personalisation": personalisation(recs, n_catalogue),
        "diversity": metrics.intra_list_diversity(recs, item_vectors)
        if item_vectors is not None and recs.ndim == 2 else 0.0,
    }


def lists_to_index(lists: Sequence[Sequence[int]], catalogue: NDArray[np.int64],
                   k: int | None = None) -> NDArray[np.int64]:
    """Served lists of raw item ids -> ``(n_lists, k)`` indices into the sorted
    ``catalogue`` (``-1`` for padding and for items outside it)."""
    k = k or max((len(items) for items in lists), default=0)
    out = np.full((len(lists), k), -1, dtype=np.int64)
    for row, items in enumerate(lists):
        ids = np.asarray(list(items)[:k], dtype=np.int64)
        if ids.size == 0:
            continue
        pos = np.searchsorted(catalogue, ids)
        ok = (pos < catalogue.size) & (catalogue[np.clip(pos, 0, max(catalogue.size - 1, 0))]
                                       == ids)
        out[row, : ids.size] = np.where(ok, pos, -1)
    return out


def served_lists_quality(lists: Sequence[Sequence[int]], training: pd.DataFrame,
                         items: pd.DataFrame | None = None) -> dict[str, float]:
    """The ``KEYS`` metrics of a window of served lists (e.g. the inference log's ``items``),
    with popularity from the ``training`` ratings and the catalogue of ``items`` (or of the
    training ratings when no items table is given)."""
    catalogue = np.unique(np.concatenate([
        training[ITEM_ID].to_numpy(dtype=np.int64),
        items[ITEM_ID].to_numpy(dtype=np.int64) if items is not None else np.zeros(0, np.int64),
    ]))
    pairs = training[[USER_ID, ITEM_ID]].drop_duplicates()
    counts = pairs[ITEM_ID].value_counts().reindex(catalogue, fill_value=0).to_numpy()
    vectors = (metrics.genre_vectors(items, catalogue) if items is not None else None)
    recs = lists_to_index(lists, catalogue)
    out = beyond_accuracy(recs, counts, int(pairs[USER_ID].nunique()), vectors)
    out["lists"] = float(len(lists))
    return out
