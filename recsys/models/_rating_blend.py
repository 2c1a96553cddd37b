"""Item-item neighbourhood correction of a rating model's residuals (KNNBaseline on residuals).

Y. Koren. Factorization Meets the Neighborhood: a Multifaceted Collaborative Filtering
Model. KDD 2008 (section 2.2: interpolating the residuals of the baseline over the most
similar items the user rated, with shrunk similarities).
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray
from scipy import sparse


def residual_similarities(
    residuals: sparse.csr_matrix, shrinkage: float, keep: int
) -> sparse.csr_matrix:
    """Shrunk cosine similarity of the items' residual columns, top ``keep`` positive per item.

    ``s_ij = cos(e_i, e_j) * n_ij / (n_ij + shrinkage)`` with ``n_ij`` the users who rated
    both. Only positive similarities are kept (negative ones interpolate badly).

    Args:
        residuals: users x items CSR of training residuals (rating minus prediction).
        shrinkage: support shrinkage.
        keep: neighbours stored per item (bounds memory to ``n_items * keep``).
    """
    by_item = residuals.T.tocsr()
    structure = by_item.copy()
    structure.data = np.ones_like(structure.data)
    norms = np.sqrt(np.asarray(by_item.multiply(by_item).sum(axis=1)).ravel())
    inverse = np.divide(1.0, norms, out=np.zeros_like(norms), where=norms > 0)
    n_items = by_item.shape[0]
    rows: list[NDArray[np.int64]] = []
    cols: list[NDArray[np.int64]] = []
    vals: list[NDArray[np.float64]] = []
    step = 256
    for start in range(0, n_items, step):
        block = slice(start, min(n_items, start + step))
        dots = np.asarray((by_item[block] @ by_item.T).todense())
        common = np.asarray((structure[block] @ structure.T).todense())
        sims = dots * inverse[block, None] * inverse[None, :] * common / (common + shrinkage)
        sims[np.arange(sims.shape[0]), np.arange(block.start, block.stop)] = 0.0
        top = min(keep, n_items)
        best = np.argpartition(-sims, top - 1, axis=1)[:, :top]
        values = np.take_along_axis(sims, best, axis=1)
        positive = values > 0
        rows.append(np.repeat(np.arange(block.start, block.stop), top)[positive.ravel()])
        cols.append(best[positive])
        vals.append(values[positive])
    return sparse.csr_matrix(
        (np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))), shape=(n_items, n_items)
    )


def neighbourhood_correction(
    residuals: sparse.csr_matrix,
    similarities: sparse.csr_matrix,
    user_index: NDArray[np.int64],
    item_index: NDArray[np.int64],
    neighbours: int,
) -> NDArray[np.float64]:
    """Similarity-weighted mean residual of the ``neighbours`` most similar items each user rated.

    Pairs whose item has no positive neighbour among the user's rated items get 0.
    """
    out = np.zeros(len(user_index))
    order = np.argsort(user_index, kind="stable")
    sorted_users = user_index[order]
    starts = np.flatnonzero(np.r_[True, sorted_users[1:] != sorted_users[:-1]])
    ends = np.r_[starts[1:], len(order)]
    for lo, hi in zip(starts, ends, strict=True):
        user = sorted_users[lo]
        pairs = order[lo:hi]
        begin, stop = residuals.indptr[user], residuals.indptr[user + 1]
        if begin == stop:
            continue
        rated = residuals.indices[begin:stop]
        values = residuals.data[begin:stop]
        sims = similarities[item_index[pairs]][:, rated].toarray()
        if rated.size > neighbours:
            best = np.argpartition(-sims, neighbours - 1, axis=1)[:, :neighbours]
            sims = np.take_along_axis(sims, best, axis=1)
            values_at = values[best]
        else:
            values_at = np.broadcast_to(values, sims.shape)
        weight = sims.sum(axis=1)
        out[pairs] = np.divide(
            (sims * values_at).sum(axis=1), weight, out=np.zeros(len(pairs)), where=weight > 0
        )
    return out
