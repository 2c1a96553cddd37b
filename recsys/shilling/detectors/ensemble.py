"""The default detector (the supervised classifier stacked over the unsupervised detectors'
evidence, confirmed by attack groups) and the registry of detectors by name."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from recsys.data.interactions import Interactions
from recsys.data.schema import USER_ID
from recsys.shilling.detectors.base import ShillingDetector, _frame
from recsys.shilling.detectors.group_evidence import TargetItemAnalysis, confirm_groups
from recsys.shilling.detectors.pca_varselect import PCAVarSelect
from recsys.shilling.detectors.supervised import SupervisedDetector
from recsys.shilling.shards import SHARD_USERS, describe_in_shards


class EnsembleDetector(SupervisedDetector):
    """The default detector: the supervised classifier stacked over the profile attributes
    and the evidence of PCA-VarSelect (log loading contribution) and the target-item
    analysis (group-excess score), all computed on each training attack (stacked
    generalisation, Wolpert 1992, "Stacked generalization", Neural Networks 5), then
    confirmed by attack groups (``confirm_groups``): a user the classifier suspects is
    flagged only if it belongs to a group of suspects sharing an extreme-rated item, the
    signature of a coordinated attack (the target-item analysis of Zhou et al. 2016 with
    the classifier's suspects as candidates).

    Description and confirmation both run shard by shard (``recsys.shilling.shards``): the
    group tests compare counts with chance, and over a whole large catalogue chance
    coincidences (same-size profiles sharing a popular 5-star movie) reach any fixed
    z-score, as an attack of a given share of users does inside a shard of fixed size.

    Takes the same arguments as ``SupervisedDetector``.
    """

    name = "ensemble"
    with_members = True

    def score_ratings(self, ratings: Interactions | pd.DataFrame) -> pd.Series:
        """Group-confirmed scores of the users of ``ratings`` (already trained classifier)."""
        frame = _frame(ratings)
        return confirm_in_shards(frame, super().score_ratings(frame), self.shard_users, self.seed)


def confirm_in_shards(frame: pd.DataFrame, probability: pd.Series, size: int = SHARD_USERS,
                      seed: int = 0) -> pd.Series:
    """``confirm_groups`` of ``probability`` inside each shard of ``frame``'s users."""
    def confirm(part: pd.DataFrame) -> pd.DataFrame:
        users = np.unique(part[USER_ID].to_numpy(dtype=np.int64))
        return confirm_groups(part, probability.reindex(users).fillna(0.0)).to_frame()

    return describe_in_shards(frame, confirm, size, seed)["score"].reindex(probability.index)


DETECTORS: dict[str, type[ShillingDetector]] = {
    "ensemble": EnsembleDetector,
    "supervised": SupervisedDetector,
    "pca_varselect": PCAVarSelect,
    "target_item_analysis": TargetItemAnalysis,
}


def create_detector(name: str = "ensemble", **params: Any) -> ShillingDetector:
    """A new detector ``name`` (``ensemble``, ``supervised``, ``pca_varselect``,
    ``target_item_analysis``)."""
    try:
        cls = DETECTORS[name]
    except KeyError:
        raise ValueError(f"unknown detector {name!r}; choose one of: {', '.join(DETECTORS)}") from None
    return cls(**params)
