"""Accuracy, beyond-accuracy and error metrics, as pure vectorised functions.

Ranking metrics take a *hit matrix*: ``hits[u, r]`` is True when the item ranked ``r + 1``
for evaluated user ``u`` is one of that user's test items (padding after a short list is
False), and ``n_relevant[u]``, the number of test items of user ``u``. Every test rating is
relevant (the Microsoft Recommenders benchmark convention) and every metric is the mean
over the evaluated users, a user without a hit counting as 0. The definitions follow
``recommenders.evaluation.python_evaluation`` (binary relevance, ``relevancy_method="top_k"``).

``hit_matrix`` builds the matrix from a recommendation frame and a test frame.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike, NDArray
from scipy import sparse

from recsys.data.schema import ITEM_ID, USER_ID


def _pair_keys(users: NDArray[np.int64], items: NDArray[np.int64], base: int) -> NDArray[np.int64]:
    return users.astype(np.int64) * np.int64(base) + items.astype(np.int64)


def hit_matrix(
    recommendations: pd.DataFrame, test: pd.DataFrame, k: int
) -> tuple[NDArray[np.bool_], NDArray[np.int64], NDArray[np.int64]]:
    """The hit matrix of ``recommendations`` against ``test``.

    Args:
        recommendations: ``user_id``, ``item_id``, ``rank`` (1-based) rows, as in
            ``RecList.frame``; ranks above ``k`` are ignored.
        test: the test ratings (``user_id``, ``item_id``); every row is relevant.
        k: list length.

    Returns:
        ``(hits, n_relevant, users)``: ``hits`` is ``(n_users, k)`` boolean, ``n_relevant``
        the number of distinct test items per user and ``users`` the evaluated user ids
        (the distinct test users, sorted). Test users without recommendations get an
        all-False row.
    """
    test_users = test[USER_ID].to_numpy(dtype=np.int64)
    test_items = test[ITEM_ID].to_numpy(dtype=np.int64)
    rec = recommendations[recommendations["rank"] <= k]
    rec_users = rec[USER_ID].to_numpy(dtype=np.int64)
    rec_items = rec[ITEM_ID].to_numpy(dtype=np.int64)
    base = int(max(test_items.max(initial=0), rec_items.max(initial=0))) + 1
    test_keys = np.unique(_pair_keys(test_users, test_items, base))
    users = np.unique(test_users)
    n_relevant = np.bincount(
        np.searchsorted(users, test_keys // base), minlength=users.size
    ).astype(np.int64)
    hits = np.zeros((users.size, k), dtype=bool)
    row = np.searchsorted(users, rec_users)
    known = (row < users.size) & (users[np.clip(row, 0, max(users.size - 1, 0))] == rec_users)
    is_hit = np.isin(_pair_keys(rec_users, rec_items, base), test_keys) & known
    ranks = rec["rank"].to_numpy(dtype=np.int64)
    hits[row[is_hit], ranks[is_hit] - 1] = True
    return hits, n_relevant, users


def _mean(per_user: NDArray[np.float64] | np.float64) -> float:
    values = np.asarray(per_user, dtype=np.float64)
    return float(values.mean()) if values.size else 0.0


def precision_at_k(hits: NDArray[np.bool_], k: int | None = None) -> float:
    """Precision@k = mean over users of ``|top-k ∩ relevant| / k``.

    The divisor is ``k`` even when a list is shorter (MS Recommenders / Spark convention).
    """
    k = hits.shape[1] if k is None else k
    return _mean(hits[:, :k].sum(axis=1) / k)


def recall_at_k(hits: NDArray[np.bool_], n_relevant: NDArray[np.int64]) -> float:
    """Recall@k = mean over users of ``|top-k ∩ relevant| / |relevant|``."""
    denom = np.maximum(n_relevant, 1)
    return _mean(hits.sum(axis=1) / denom)


def _discounts(k: int) -> NDArray[np.float64]:
    return 1.0 / np.log2(np.arange(2, k + 2))


def ndcg_at_k(hits: NDArray[np.bool_], n_relevant: NDArray[np.int64]) -> float:
    """NDCG@k with binary relevance (MS Recommenders ``score_type="binary"``).

    ``DCG = sum_{r=1..k} hit_r / log(1 + r)``, ``IDCG = sum_{r=1..min(|rel|, k)} 1 / log(1 + r)``,
    NDCG = mean over users of ``DCG / IDCG`` (the log base cancels).
    """
    k = hits.shape[1]
    disc = _discounts(k)
    dcg = hits.astype(np.float64) @ disc
    ideal_cum = np.r_[0.0, np.cumsum(disc)]
    idcg = ideal_cum[np.clip(n_relevant, 0, k)]
    with np.errstate(divide="ignore", invalid="ignore"):
        per_user = np.where(idcg > 0, dcg / idcg, 0.0)
    return _mean(per_user)


def map_at_k(hits: NDArray[np.bool_], n_relevant: NDArray[np.int64]) -> float:
    """MAP@k as MS Recommenders ``map_at_k`` (Spark ``meanAveragePrecisionAt``).

    ``AP@k(u) = sum_{r: hit_r} (hits in ranks 1..r / r) / min(|rel_u|, k)``; MAP@k is its
    mean over users. (The older MS ``map`` divides by ``|rel_u|`` instead.)
    """
    k = hits.shape[1]
    h = hits.astype(np.float64)
    precision_at_rank = np.cumsum(h, axis=1) / np.arange(1, k + 1)
    denom = np.maximum(np.minimum(n_relevant, k), 1)
    per_user = np.asarray((precision_at_rank * h).sum(axis=1) / denom, dtype=np.float64)
    return _mean(per_user)


def hit_rate_at_k(hits: NDArray[np.bool_]) -> float:
    """HitRate@k = share of users with at least one relevant item in their top k."""
    return _mean(hits.any(axis=1).astype(np.float64))


def mrr(hits: NDArray[np.bool_]) -> float:
    """Mean reciprocal rank of the first relevant item in the top k (0 when none)."""
    any_hit = hits.any(axis=1)
    first = np.argmax(hits, axis=1) + 1
    return _mean(np.where(any_hit, 1.0 / first, 0.0))


def rmse(y_true: ArrayLike, y_pred: ArrayLike) -> float:
    """Root mean squared error ``sqrt(mean((y - ŷ)^2))`` over finite predictions."""
    t, p = _finite_pairs(y_true, y_pred)
    return float(np.sqrt(np.mean((t - p) ** 2))) if t.size else float("nan")


def mae(y_true: ArrayLike, y_pred: ArrayLike) -> float:
    """Mean absolute error ``mean(|y - ŷ|)`` over finite predictions."""
    t, p = _finite_pairs(y_true, y_pred)
    return float(np.mean(np.abs(t - p))) if t.size else float("nan")


def _finite_pairs(
    y_true: ArrayLike, y_pred: ArrayLike
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    t = np.asarray(y_true, dtype=np.float64).ravel()
    p = np.asarray(y_pred, dtype=np.float64).ravel()
    if t.shape != p.shape:
        raise ValueError(f"y_true and y_pred differ in length: {t.size} != {p.size}")
    ok = np.isfinite(p)
    return t[ok], p[ok]


def catalogue_coverage(recommended_items: ArrayLike, n_catalogue: int) -> float:
    """Catalogue coverage = distinct recommended items / catalogue size."""
    if n_catalogue <= 0:
        return 0.0
    items = np.asarray(recommended_items).ravel()
    items = items[items >= 0] if np.issubdtype(items.dtype, np.integer) else items
    return float(np.unique(items).size / n_catalogue)


def novelty(
    recommended_index: NDArray[np.int64], item_user_counts: ArrayLike, n_users: int
) -> float:
    """Mean self-information of recommended items, in bits.

    ``novelty = mean over recommended (user, item) of -log2(p_i)`` with the add-one
    popularity ``p_i = (n_i + 1) / (n_users + 1)``, where ``n_i`` is the number of training
    users who rated item ``i`` (Zhou et al. 2010, PNAS 107(10)); add-one keeps items nobody
    rated in training finite. Padding entries (``-1``) are ignored.
    """
    counts = np.asarray(item_user_counts, dtype=np.float64)
    idx = np.asarray(recommended_index, dtype=np.int64).ravel()
    idx = idx[idx >= 0]
    if idx.size == 0:
        return 0.0
    p = (counts[idx] + 1.0) / (n_users + 1.0)
    return float(np.mean(-np.log2(p)))


def intra_list_diversity(
    recommended_index: NDArray[np.int64],
    item_vectors: sparse.spmatrix | NDArray[np.float64],
) -> float:
    """Intra-list diversity = mean over lists of ``1 - mean pairwise cosine`` of its items.

    For L2-normalised vectors ``v`` and a list ``L`` of ``n`` items,
    ``sum_{i != j} cos(v_i, v_j) = ||sum_i v_i||^2 - sum_i ||v_i||^2``, so every list costs
    one sparse product (Ziegler et al. 2005, WWW). An item with an all-zero vector has
    cosine 0 with every other item; lists with fewer than two items are skipped.

    Args:
        recommended_index: ``(n_lists, k)`` dense item indices, ``-1`` for padding.
        item_vectors: ``(n_items, n_features)`` item representations (e.g. genre flags).
    """
    recs = np.asarray(recommended_index, dtype=np.int64)
    if recs.ndim != 2 or recs.size == 0:
        return 0.0
    vectors = sparse.csr_matrix(item_vectors, dtype=np.float64)
    norms = np.sqrt(np.asarray(vectors.multiply(vectors).sum(axis=1)).ravel())
    inv = np.divide(1.0, norms, out=np.zeros_like(norms), where=norms > 0)
    unit = sparse.diags(inv) @ vectors
    valid = recs >= 0
    n_per_list = valid.sum(axis=1)
    rows = np.repeat(np.arange(recs.shape[0]), recs.shape[1])[valid.ravel()]
    selector = sparse.csr_matrix(
        (np.ones(rows.size), (rows, recs.ravel()[valid.ravel()])),
        shape=(recs.shape[0], vectors.shape[0]),
    )
    summed = selector @ unit
    sq_sum = np.asarray(summed.multiply(summed).sum(axis=1)).ravel()
    self_sq = selector @ (norms > 0).astype(np.float64)
    pairs = n_per_list * (n_per_list - 1)
    keep = pairs > 0
    if not keep.any():
        return 0.0
    mean_cos = (sq_sum[keep] - self_sq[keep]) / pairs[keep]
    return float(np.mean(1.0 - mean_cos))


def genre_vectors(item_features: pd.DataFrame, item_ids: ArrayLike) -> sparse.csr_matrix | None:
    """Multi-hot genre matrix aligned with the sorted ``item_ids`` (``None`` without genres).

    ``genres`` holds ``|``-joined genre names as in the prepared items table; items absent
    from ``item_features`` get an all-zero row.
    """
    if "genres" not in item_features.columns:
        return None
    ids = np.asarray(item_ids, dtype=np.int64)
    table = item_features[[ITEM_ID, "genres"]].dropna()
    exploded = table.assign(genre=table["genres"].astype(str).str.split("|")).explode("genre")
    exploded = exploded[exploded["genre"].astype(str).str.len() > 0]
    if exploded.empty:
        return None
    genre_codes, genre_names = pd.factorize(exploded["genre"])
    pos = np.searchsorted(ids, exploded[ITEM_ID].to_numpy(dtype=np.int64))
    pos_clipped = np.clip(pos, 0, max(ids.size - 1, 0))
    found = (pos < ids.size) & (ids[pos_clipped] == exploded[ITEM_ID].to_numpy(dtype=np.int64))
    return sparse.csr_matrix(
        (np.ones(int(found.sum())), (pos[found], genre_codes[found])),
        shape=(ids.size, len(genre_names)),
    )
