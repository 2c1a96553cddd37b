"""Item-item neighbourhood correction of a rating model's residuals (KNNBaseline on residuals).

Y. Koren. Factorization Meets the Neighborhood: a Multifaceted Collaborative Filtering
Model. KDD 2008 (section 2.2: interpolating the residuals of the baseline over the most
similar items the user rated, with shrunk similarities).
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray
from scipy import sparse

from recsys.models.item_knn import top_n_similarities


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
    return top_n_similarities(residuals.T.tocsr(), keep, shrinkage=shrinkage)


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
