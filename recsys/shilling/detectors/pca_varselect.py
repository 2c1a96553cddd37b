"""PCA-VarSelect (Mehta and Nejdl 2009): shillers carry little of the data's variance."""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import sparse
from scipy.sparse.linalg import svds

from recsys.data.schema import ITEM_ID, RATING, USER_ID
from recsys.shilling.detectors.base import ShillingDetector


def pca_contribution(frame: pd.DataFrame, n_components: int = 3, seed: int = 0) -> pd.Series:
    """Each user's squared loadings on the first principal components of the user-user
    correlation, scaled so that the average user scores 1 (shillers score low).

    Users are the variables: each user's ratings are z-scored over their items, missing
    ratings count as the user's mean (0), and the top left singular vectors of the sparse
    z-score matrix are the eigenvectors of the user correlation matrix.
    """
    users, u = np.unique(frame[USER_ID].to_numpy(dtype=np.int64), return_inverse=True)
    items, i = np.unique(frame[ITEM_ID].to_numpy(dtype=np.int64), return_inverse=True)
    r = frame[RATING].to_numpy(dtype=np.float64)
    n = np.bincount(u, minlength=len(users)).astype(np.float64)
    mean = np.bincount(u, weights=r, minlength=len(users)) / n
    sd = np.sqrt(np.maximum(np.bincount(u, weights=r**2, minlength=len(users)) / n - mean**2, 0))
    sd[sd == 0] = 1.0
    z = sparse.csr_matrix(((r - mean[u]) / sd[u], (u, i)), shape=(len(users), len(items)))
    k = max(1, min(n_components, min(z.shape) - 1))
    v0 = np.random.default_rng(seed).random(min(z.shape))
    left, _, _ = svds(z, k=k, v0=v0)
    contribution = (left**2).sum(axis=1) * len(users) / k
    return pd.Series(contribution, index=pd.Index(users, name=USER_ID))


class PCAVarSelect(ShillingDetector):
    """PCA-VarSelect (Mehta and Nejdl 2009, "Unsupervised strategies for shilling detection
    and robust collaborative filtering", UMUAI 19).

    Shilling profiles are highly correlated with each other yet carry little of the data's
    variance, so they have the smallest loadings on the first principal components. The
    method flags the ``expected_share`` of users with the smallest loadings; the score maps
    the rank of a user's loading so that exactly those users get a score above 0.5.

    Args:
        n_components: principal components considered (3 in the paper).
        expected_share: the share of users flagged (the paper's ``r`` / number of users).
    """

    name = "pca_varselect"

    def __init__(self, *, n_components: int = 3, expected_share: float = 0.05, seed: int = 0) -> None:
        if not 0 < expected_share < 1:
            raise ValueError("expected_share must be in (0, 1)")
        self.n_components = n_components
        self.expected_share = expected_share
        self.seed = seed

    def _score(self, frame: pd.DataFrame) -> pd.Series:
        contribution = pca_contribution(frame, self.n_components, self.seed)
        smallness = (-contribution).rank(pct=True, method="average").to_numpy()
        cut = 1.0 - self.expected_share
        score = np.where(
            smallness <= cut,
            0.5 * smallness / cut,
            0.5 + 0.5 * (smallness - cut) / self.expected_share,
        )
        return pd.Series(score, index=contribution.index)
