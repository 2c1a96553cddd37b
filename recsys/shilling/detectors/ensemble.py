"""The default detector (the supervised classifier stacked over the unsupervised detectors'
evidence, confirmed by attack groups) and the registry of detectors by name."""

from __future__ import annotations

from typing import Any

import pandas as pd

from recsys.data.interactions import Interactions
from recsys.shilling.detectors.base import ShillingDetector, _frame
from recsys.shilling.detectors.group_evidence import TargetItemAnalysis, confirm_groups
from recsys.shilling.detectors.pca_varselect import PCAVarSelect
from recsys.shilling.detectors.supervised import SupervisedDetector


class EnsembleDetector(SupervisedDetector):
    """The default detector: the supervised classifier stacked over the profile attributes
    and the evidence of PCA-VarSelect (log loading contribution) and the target-item
    analysis (group-excess score), all computed on each training attack (stacked
    generalisation, Wolpert 1992, "Stacked generalization", Neural Networks 5), then
    confirmed by attack groups (``confirm_groups``): a user the classifier suspects is
    flagged only if it belongs to a group of suspects sharing an extreme-rated item, the
    signature of a coordinated attack (the target-item analysis of Zhou et al. 2016 with
    the classifier's suspects as candidates).

    Takes the same arguments as ``SupervisedDetector``.
    """

    name = "ensemble"
    with_members = True

    def score_ratings(self, ratings: Interactions | pd.DataFrame) -> pd.Series:
        """Group-confirmed scores of the users of ``ratings`` (already trained classifier)."""
        frame = _frame(ratings)
        return confirm_groups(frame, super().score_ratings(frame))


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
