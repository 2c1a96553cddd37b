"""Per-dataset calibration of the shilling detector.

The shipped reference classifier learnt what genuine users look like on ML-100K. A large
catalogue has other genuine profiles (many same-size profiles sharing a popular 5-star
movie by chance), so ``calibrated_scores`` fits the ensemble on the dataset being screened:
its own users are the negatives and attacks injected into it (``recsys.shilling.attacks``,
every kind, sizes and filler sizes drawn log-uniformly) the positives.

An attack already in the data would sit among the negatives and teach the classifier to
call it genuine. The users are therefore cross-fitted: they are split in two halves at
random, each half's classifier learns with only the other half as negatives, and every user
is scored by the classifier that never saw them. Scores then pass the ensemble's group
confirmation, shard by shard, as with the reference model.

The attributes are what costs (every training attack needs its poisoned copy of the data
described anew), so they are computed once: the users' own attributes serve as both halves'
negatives and as what is scored, and both classifiers learn from the same injected attacks.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from recsys.sampling import as_rng
from recsys.shilling.detectors.ensemble import EnsembleDetector, confirm_in_shards

#: Training attacks per kind (both cross-fitted classifiers learn from the same ones).
ATTACKS_PER_KIND = 3


def calibrated_scores(ratings: pd.DataFrame, *, seed: int = 0,
                      attacks_per_kind: int = ATTACKS_PER_KIND) -> pd.Series:
    """Per-user scores in [0, 1] (index ``user_id``) of the ensemble fitted on ``ratings``'
    own users plus attacks injected into them, cross-fitted over two halves of the users."""
    detector = EnsembleDetector(training="self", attacks_per_kind=attacks_per_kind, seed=seed)
    own, positives = detector.training_set(ratings)
    users = own.index.to_numpy()
    half = as_rng(seed).random(users.size) < 0.5
    probability = pd.Series(np.nan, index=own.index, name="score")
    for fold, scored in enumerate((users[half], users[~half])):
        fold_detector = EnsembleDetector(training="self", exclude_negatives=scored.tolist(),
                                         seed=seed + fold)
        fold_detector.fit_classifier(own, positives)
        probability.loc[scored] = fold_detector.predict(own.loc[scored]).to_numpy()
    return confirm_in_shards(ratings, probability, detector.shard_users, seed)
