"""Per-user profile attributes used to detect fake profiles.

Generic attributes (Chirita, Nejdl and Zamfir 2005, "Preventing shilling attacks in online
recommender systems"; Burke, Mobasher, Williams and Bhaumik 2006, "Classification features
for attack detection in collaborative recommender systems"):

``rdma``
    Rating Deviation from Mean Agreement: ``sum_i |r_ui - mean_i| / n_i`` over the user's
    items, divided by the profile length.
``wdma``
    Weighted Deviation from Mean Agreement: as RDMA with ``n_i ** 2`` (rare items weigh more).
``wda``
    Weighted Degree of Agreement: the RDMA numerator, not divided by the profile length.
``length_var``
    ``|n_u - mean n| / sum_v (n_v - mean n) ** 2``.
``deg_sim``
    mean similarity to the user's ``k`` nearest neighbours. Pearson correlation is
    approximated by the cosine of mean-centred rating vectors (missing = the user's mean),
    which is exact on co-rated items up to the norms and keeps the computation sparse.
    Neighbours are sought among at most ``DEGSIM_ANCHORS`` users (all of them on
    ML-100K-sized data, a seeded sample beyond): comparing every user with every user costs
    ratings x users (84 s at 3M ratings, hours at 25M), and a fixed pool also keeps the
    attribute's scale the same on every catalogue size, where the full pool's best
    neighbours get closer the more users there are. An attack still finds its own fake
    profiles in the pool in proportion to its size.

Model-specific attributes (Williams, Mobasher and Burke 2007, "Defending recommender systems:
detection of profile injection attacks"), each from a partition of the profile into a
target set ``P_T`` and a filler set ``P_F``:

``mean_var``
    average-attack model: ``P_T`` is the one max-rated item whose removal leaves the
    smallest variance ``sum_{P_F} (r_ui - mean_i) ** 2 / |P_F|``; that variance.
``fmv``, ``fmd``
    Filler Mean Variance / Filler Mean Difference with ``P_T`` = every max-rated item:
    mean squared / absolute deviation from the item means over the rest.
``fmtd``
    Filler Mean Target Difference (segment model): ``|mean r over P_T - mean r over P_F|``.
``tmf``
    Target Model Focus: how many other profiles share the user's average-model target
    (normalised by the most shared one); ``tmf_nuke`` does the same for the min-rated item
    of largest deviation.

Extra attributes: ``entropy`` (Shannon entropy of the rating values, normalised to [0, 1]),
``filler_popularity`` (mean popularity percentile of the filler items), ``log_length``,
``mean_rating``, ``rating_sd``, ``max_share`` and ``min_share``.

Everything is O(ratings) with ``numpy.bincount`` except DegSim, which is O(ratings x
anchors), scored in blocks of users (memory: block x anchors).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from numpy.typing import NDArray
from scipy import sparse

from recsys.data.interactions import Interactions
from recsys.data.schema import ITEM_ID, RATING, USER_ID

ATTRIBUTES: tuple[str, ...] = (
    "rdma", "wdma", "wda", "length_var", "deg_sim", "mean_var", "fmv", "fmd", "fmtd", "tmf",
    "tmf_nuke", "entropy", "filler_popularity", "log_length", "mean_rating", "rating_sd",
    "max_share", "min_share",
)
DEGSIM_ANCHORS = 2000
DEGSIM_BLOCK = 4096


def _as_arrays(
    ratings: pd.DataFrame | Interactions,
) -> tuple[NDArray[np.int64], NDArray[np.int64], NDArray[np.float64], NDArray[np.int64]]:
    frame = ratings.frame if isinstance(ratings, Interactions) else ratings
    users, u = np.unique(frame[USER_ID].to_numpy(dtype=np.int64), return_inverse=True)
    _, i = np.unique(frame[ITEM_ID].to_numpy(dtype=np.int64), return_inverse=True)
    return u.astype(np.int64), i.astype(np.int64), frame[RATING].to_numpy(dtype=np.float64), users


def _per_user_max_of(
    u: NDArray[np.int64], value: NDArray[np.float64], mask: NDArray[np.bool_], n_users: int
) -> tuple[NDArray[np.float64], NDArray[np.int64]]:
    """Per user, the largest ``value`` among rows in ``mask`` and that row (-1 if none)."""
    best = np.full(n_users, -np.inf)
    best_row = np.full(n_users, -1, dtype=np.int64)
    rows = np.flatnonzero(mask)
    if rows.size:
        order = rows[np.lexsort((value[rows], u[rows]))]
        last = np.r_[u[order][1:] != u[order][:-1], True]
        winners = order[last]
        best[u[winners]] = value[winners]
        best_row[u[winners]] = winners
    return best, best_row


def degsim_anchors(n_users: int, anchors: int = DEGSIM_ANCHORS, seed: int = 0) -> NDArray[np.int64]:
    """The users (row positions) DegSim compares every user with: all of them when there
    are at most ``anchors``, else a seeded sample of ``anchors`` (sorted)."""
    if n_users <= anchors:
        return np.arange(n_users, dtype=np.int64)
    return np.sort(np.random.default_rng(seed).choice(n_users, size=anchors, replace=False))


def deg_sim(
    u: NDArray[np.int64], i: NDArray[np.int64], r: NDArray[np.float64], n_users: int, n_items: int,
    *, k: int = 10, anchors: int = DEGSIM_ANCHORS,
) -> NDArray[np.float64]:
    """Mean similarity of each user to its ``k`` most similar anchor users (centred cosine;
    ``degsim_anchors`` picks the anchors, a user is never its own neighbour)."""
    count = np.bincount(u, minlength=n_users).astype(np.float64)
    means = np.bincount(u, weights=r, minlength=n_users) / np.maximum(count, 1)
    centred = sparse.csr_matrix((r - means[u], (u, i)), shape=(n_users, n_items))
    norms = np.sqrt(np.asarray(centred.multiply(centred).sum(axis=1)).ravel())
    norms[norms == 0] = 1.0
    normed = sparse.diags(1.0 / norms) @ centred
    pool = degsim_anchors(n_users, anchors)
    k_eff = min(k, pool.size - 1)
    out = np.zeros(n_users)
    if k_eff <= 0:
        return out
    # anchor position of each user (-1: not an anchor), to drop self-similarity
    anchor_of = np.full(n_users, -1, dtype=np.int64)
    anchor_of[pool] = np.arange(pool.size)
    columns = normed[pool].T.toarray()
    for start in range(0, n_users, DEGSIM_BLOCK):
        stop = min(start + DEGSIM_BLOCK, n_users)
        # sparse (block of users) @ dense (items x anchors): the product is dense anyway
        block = np.asarray(normed[start:stop] @ columns)
        rows = np.arange(stop - start)
        own = anchor_of[start:stop]
        block[rows[own >= 0], own[own >= 0]] = -np.inf
        top = np.partition(block, block.shape[1] - k_eff, axis=1)[:, -k_eff:]
        out[start:stop] = top.mean(axis=1)
    return out


def profile_attributes(
    ratings: pd.DataFrame | Interactions, *, k: int = 10, scale: tuple[float, float] | None = None
) -> pd.DataFrame:
    """Every attribute of ``ATTRIBUTES`` for every user, indexed by ``user_id``.

    Args:
        ratings: the ratings to describe (item statistics are computed from them).
        k: neighbours for DegSim.
        scale: ``(minimum, maximum)`` rating; default: the extremes observed in the data.
    """
    u, i, r, users = _as_arrays(ratings)
    n_users, n_items = len(users), int(i.max()) + 1 if len(i) else 0
    if n_users == 0:
        return pd.DataFrame(columns=list(ATTRIBUTES), index=pd.Index([], name=USER_ID))
    low, high = scale if scale is not None else (float(r.min()), float(r.max()))

    n_u = np.bincount(u, minlength=n_users).astype(np.float64)
    n_i = np.bincount(i, minlength=n_items).astype(np.float64)
    item_mean = np.bincount(i, weights=r, minlength=n_items) / np.maximum(n_i, 1)
    dev = r - item_mean[i]
    absdev, sqdev = np.abs(dev), dev**2

    wda = np.bincount(u, weights=absdev / n_i[i], minlength=n_users)
    rdma = wda / n_u
    wdma = np.bincount(u, weights=absdev / n_i[i] ** 2, minlength=n_users) / n_u
    spread = float(((n_u - n_u.mean()) ** 2).sum())
    length_var = np.abs(n_u - n_u.mean()) / (spread if spread > 0 else 1.0)

    is_max, is_min = r >= high, r <= low
    n_max = np.bincount(u, weights=is_max.astype(float), minlength=n_users)
    n_min = np.bincount(u, weights=is_min.astype(float), minlength=n_users)
    sum_sq = np.bincount(u, weights=sqdev, minlength=n_users)
    sum_abs = np.bincount(u, weights=absdev, minlength=n_users)
    sum_r = np.bincount(u, weights=r, minlength=n_users)

    # Average-attack model: the target is the max-rated item of largest squared deviation.
    top_sq, target_row = _per_user_max_of(u, sqdev, is_max, n_users)
    has_target = target_row >= 0
    rest = np.where(has_target, n_u - 1, n_u)
    mean_var = np.where(rest > 0, (sum_sq - np.where(has_target, top_sq, 0.0)) / np.maximum(rest, 1), 0.0)

    # P_T = every max-rated item, P_F = the rest.
    n_fill = n_u - n_max
    fill_sq = sum_sq - np.bincount(u, weights=sqdev * is_max, minlength=n_users)
    fill_abs = sum_abs - np.bincount(u, weights=absdev * is_max, minlength=n_users)
    fill_r = sum_r - np.bincount(u, weights=r * is_max, minlength=n_users)
    fmv = np.where(n_fill > 0, fill_sq / np.maximum(n_fill, 1), 0.0)
    fmd = np.where(n_fill > 0, fill_abs / np.maximum(n_fill, 1), 0.0)
    fmtd = np.where((n_fill > 0) & (n_max > 0), np.abs(high - fill_r / np.maximum(n_fill, 1)), 0.0)

    def focus(rows: NDArray[np.int64]) -> NDArray[np.float64]:
        chosen = rows[rows >= 0]
        if chosen.size == 0:
            return np.zeros(n_users)
        shared = np.bincount(i[chosen], minlength=n_items).astype(np.float64)
        out = np.zeros(n_users)
        out[rows >= 0] = shared[i[chosen]] / shared.max()
        return out

    tmf = focus(target_row)
    _, nuke_row = _per_user_max_of(u, sqdev, is_min, n_users)
    tmf_nuke = focus(nuke_row)

    levels, level_idx = np.unique(r, return_inverse=True)
    counts = np.zeros((n_users, len(levels)))
    np.add.at(counts, (u, level_idx), 1.0)
    share = counts / n_u[:, None]
    with np.errstate(divide="ignore", invalid="ignore"):
        ent = -np.nansum(np.where(share > 0, share * np.log(share), 0.0), axis=1)
    entropy = ent / np.log(len(levels)) if len(levels) > 1 else np.zeros(n_users)

    pop_rank = pd.Series(n_i).rank(pct=True).to_numpy()
    is_target = np.zeros(len(r), dtype=bool)
    is_target[target_row[has_target]] = True
    fill_rows = ~is_target
    filler_popularity = np.bincount(u, weights=pop_rank[i] * fill_rows, minlength=n_users) / np.maximum(
        np.bincount(u, weights=fill_rows.astype(float), minlength=n_users), 1
    )

    mean_rating = sum_r / n_u
    rating_sd = np.sqrt(np.maximum(np.bincount(u, weights=r**2, minlength=n_users) / n_u - mean_rating**2, 0))

    return pd.DataFrame(
        {
            "rdma": rdma,
            "wdma": wdma,
            "wda": wda,
            "length_var": length_var,
            "deg_sim": deg_sim(u, i, r, n_users, n_items, k=k),
            "mean_var": mean_var,
            "fmv": fmv,
            "fmd": fmd,
            "fmtd": fmtd,
            "tmf": tmf,
            "tmf_nuke": tmf_nuke,
            "entropy": entropy,
            "filler_popularity": filler_popularity,
            "log_length": np.log(n_u),
            "mean_rating": mean_rating,
            "rating_sd": rating_sd,
            "max_share": n_max / n_u,
            "min_share": n_min / n_u,
        },
        index=pd.Index(users, name=USER_ID),
    )
