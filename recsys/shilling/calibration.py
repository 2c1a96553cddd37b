"""Per-dataset calibration of the shilling detector.

The shipped reference classifier learnt what genuine users look like on ML-100K. A large
catalogue has other genuine profiles (many same-size profiles sharing a popular 5-star
movie by chance), so ``calibrated_scores`` fits the ensemble on the dataset being screened:
its own users are the negatives and attacks injected into it (``recsys.shilling.attacks``,
every kind, sizes and filler sizes drawn log-uniformly) the positives.

An attack already in the data would sit among the negatives and teach the classifier to
call it genuine. The users are therefore cross-fitted: they are split in two halves at
random, each half's classifier learns with only that half as negatives, and every user is
scored by the classifier that never saw them. Scores then pass the ensemble's group
confirmation as with the reference model.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from recsys.data.schema import USER_ID
from recsys.sampling import as_rng
from recsys.shilling.detectors import EnsembleDetector, confirm_groups

#: Training attacks per kind for each of the two cross-fitted classifiers.
ATTACKS_PER_KIND = 2


def calibrated_scores(ratings: pd.DataFrame, *, seed: int = 0,
                      attacks_per_kind: int = ATTACKS_PER_KIND) -> pd.Series:
    """Per-user scores in [0, 1] (index ``user_id``) of the ensemble fitted on ``ratings``'
    own users plus attacks injected into them, cross-fitted over two halves of the users."""
    users = np.unique(ratings[USER_ID].to_numpy(dtype=np.int64))
    half = as_rng(seed).random(users.size) < 0.5
    halves = (users[half], users[~half])
    probability = pd.Series(np.nan, index=pd.Index(users, name=USER_ID), name="score")
    for fold, scored in enumerate(halves[::-1]):
        # this fold's classifier learns with the other half as negatives
        detector = EnsembleDetector(training="self", attacks_per_kind=attacks_per_kind,
                                    exclude_negatives=scored.tolist(), seed=seed + fold)
        detector.train(ratings)
        fold_scores = super(EnsembleDetector, detector).score_ratings(ratings)
        probability.loc[scored] = fold_scores.loc[scored].to_numpy()
    return confirm_groups(ratings, probability)
