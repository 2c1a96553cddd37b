"""Shilling detectors behind one interface: ``fit(interactions)`` then per-user scores in [0, 1].

One module each: ``base`` (the interface), ``pca_varselect``, ``group_evidence`` (attack
groups and the target-item analysis), ``tree_ensemble`` (the pickle-free classifier),
``supervised`` and ``ensemble`` (the default, and the registry ``DETECTORS``).


* ``PCAVarSelect``: unsupervised (Mehta and Nejdl 2009);
* ``TargetItemAnalysis``: groups of suspicious users sharing an extreme-rated item;
* ``SupervisedDetector``: gradient boosting over the profile attributes, trained on attacks
  generated from clean data; the shipped reference model is plain arrays (``.npz`` + JSON,
  no pickle), and ``training="self"`` trains at fit time on the data being screened;
* ``EnsembleDetector`` (the default): the supervised classifier stacked over the attributes
  and the two unsupervised detectors' scores (stacked generalisation, Wolpert 1992), its
  probabilities confirmed by attack groups (``confirm_groups``): a suspect is flagged only
  inside a group of suspects sharing an extreme-rated item, so isolated genuine users with
  unusual profiles are not; ``coordinated_profiles`` flags batches of same-size profiles
  sharing an extreme-rated item even when each looks genuine to the classifier; and
  ``accomplices`` ranks (never flags) unsuspected profiles of a group's size rating its item.

A score of 0.5 or more means "flagged" unless a caller picks another threshold.
"""

from __future__ import annotations

from recsys.errors import NotFittedError
from recsys.shilling.detectors.base import ShillingDetector
from recsys.shilling.detectors.ensemble import DETECTORS, EnsembleDetector, create_detector
from recsys.shilling.detectors.group_evidence import (
    TargetItemAnalysis,
    accomplices,
    confirm_groups,
    coordinated_profiles,
    group_evidence,
    target_item_scores,
)
from recsys.shilling.detectors.pca_varselect import PCAVarSelect, pca_contribution
from recsys.shilling.detectors.supervised import (
    REFERENCE_DIR,
    TRAINING_FILLERS,
    TRAINING_KINDS,
    TRAINING_SIZES,
    SupervisedDetector,
    detection_features,
)
from recsys.shilling.detectors.tree_ensemble import TreeEnsemble

__all__ = [
    "DETECTORS",
    "REFERENCE_DIR",
    "TRAINING_FILLERS",
    "TRAINING_KINDS",
    "TRAINING_SIZES",
    "EnsembleDetector",
    "NotFittedError",
    "PCAVarSelect",
    "ShillingDetector",
    "SupervisedDetector",
    "TargetItemAnalysis",
    "TreeEnsemble",
    "accomplices",
    "confirm_groups",
    "coordinated_profiles",
    "create_detector",
    "detection_features",
    "group_evidence",
    "pca_contribution",
    "target_item_scores",
]
