"""Session EASE: EASE^R fitted on rating sessions instead of whole user histories."""

from __future__ import annotations

import numpy as np
from pydantic import Field
from scipy import sparse

from recsys.data.interactions import Interactions
from recsys.data.schema import TIMESTAMP
from recsys.models.ease import EASE, EASEConfig


class SessionEASEConfig(EASEConfig):
    """Attributes (besides EASE's):
    session_gap: seconds of inactivity that end a rating session.
    """

    regularization: float = Field(default=400.0, gt=0.0)
    session_gap: int = Field(default=3600, ge=1)


class SessionEASE(EASE):
    """EASE^R learned from rating sessions instead of whole user histories.

    A session is a run of one user's ratings with no pause longer than ``session_gap``;
    movies rated in the same sitting are related more tightly than movies the same user
    rated months apart, so the item-item weights are fitted on the ``sessions x items``
    matrix and applied, as in EASE, to each user's whole history (session-based
    co-occurrence in the spirit of session-kNN, Jannach and Ludewig 2017, "When recurrent
    neural networks meet the neighborhood for session-based recommendation"). Without
    timestamps every user is one session and this is plain EASE. On ML-100K
    ``ms-stratified`` (split seed 42) it scores NDCG@10 0.4805 alone (EASE^R 0.4795). The
    default hybrid blend uses EASE's ``cooccurrence="timeline"`` instead, which weighs
    pairs smoothly by their distance rather than cutting at a pause (0.5005 alone on
    seed 42).
    """

    name = "session_ease"
    config: SessionEASEConfig

    def _gram_rows(self, data: Interactions, x: sparse.csr_matrix) -> sparse.csr_matrix:
        frame = data.frame
        when = frame[TIMESTAMP].to_numpy(dtype=np.int64)
        user, item = data.user_index, data.item_index
        order = np.lexsort((when, user))
        user, item, when = user[order], item[order], when[order]
        starts = np.r_[True, (user[1:] != user[:-1]) | (np.diff(when) > self.config.session_gap)]
        session = np.cumsum(starts) - 1
        values = np.asarray(x[user, item], dtype=np.float64).ravel()
        n_sessions = int(session[-1]) + 1 if len(session) else 0
        return sparse.csr_matrix((values, (session, item)), shape=(n_sessions, x.shape[1]))
