"""Shilling detectors behind one interface: ``fit(interactions)`` then per-user scores in [0, 1].

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

import json
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Self

import numpy as np
import pandas as pd
from numpy.typing import NDArray
from scipy import sparse

from recsys.data.interactions import Interactions
from recsys.data.schema import ITEM_ID, RATING, RATING_COLUMNS, USER_ID
from recsys.models.base import as_rng
from recsys.shilling.attacks import RatingStats, generate_attack
from recsys.shilling.features import profile_attributes

#: Where the shipped reference classifiers live (``<detector>.npz`` + ``<detector>.json``).
REFERENCE_DIR = Path(__file__).resolve().parent / "reference"
#: Attack kinds the supervised detectors train on by default (every kind).
TRAINING_KINDS: tuple[str, ...] = (
    "random", "average", "bandwagon", "segment", "reverse_bandwagon", "love_hate",
    "popular_filler", "noise", "target_shift", "mixed",
)
#: Ranges training attack sizes and filler sizes are drawn from (log-uniformly). Drawn, not
#: picked from a list: fake profiles all have the same length, and a classifier trained on a
#: few lengths learns "a length never seen among the positives is genuine".
TRAINING_SIZES: tuple[float, float] = (0.01, 0.15)
TRAINING_FILLERS: tuple[float, float] = (0.005, 0.15)


def _frame(data: Interactions | pd.DataFrame) -> pd.DataFrame:
    frame = data.frame if isinstance(data, Interactions) else data
    missing = {USER_ID, ITEM_ID, RATING} - set(frame.columns)
    if missing:
        raise ValueError(f"ratings lack column(s): {', '.join(sorted(missing))}")
    return frame


class NotFittedError(RuntimeError):
    """A detector's scores were read before ``fit``."""


class ShillingDetector(ABC):
    """The detector interface: ``fit(interactions)`` computes a suspicion score per user."""

    name: ClassVar[str] = "detector"

    @abstractmethod
    def _score(self, frame: pd.DataFrame) -> pd.Series:
        """Scores in [0, 1] indexed by ``user_id`` for every user of ``frame``."""

    def fit(self, interactions: Interactions | pd.DataFrame) -> Self:
        """Score every user of ``interactions`` (ratings frame or ``Interactions``)."""
        start = time.perf_counter()
        scores = self._score(_frame(interactions)).clip(0.0, 1.0).astype(np.float64)
        scores.index.name = USER_ID
        self.scores_: pd.Series = scores.rename("score")
        self.fit_seconds_: float = time.perf_counter() - start
        return self

    def scores(self) -> pd.Series:
        """Per-user suspicion in [0, 1], indexed by ``user_id``."""
        if not hasattr(self, "scores_"):
            raise NotFittedError(f"{type(self).__name__} is not fitted: call fit() first")
        return self.scores_

    def flagged(self, threshold: float = 0.5) -> pd.Series:
        """``True`` for users whose score reaches ``threshold``."""
        return self.scores() >= threshold


# -- PCA-VarSelect -------------------------------------------------------------------------
def pca_contribution(frame: pd.DataFrame, n_components: int = 3, seed: int = 0) -> pd.Series:
    """Each user's squared loadings on the first principal components of the user-user
    correlation, scaled so that the average user scores 1 (shillers score low).

    Users are the variables: each user's ratings are z-scored over their items, missing
    ratings count as the user's mean (0), and the top left singular vectors of the sparse
    z-score matrix are the eigenvectors of the user correlation matrix.
    """
    from scipy.sparse.linalg import svds

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


# -- target-item analysis ----------------------------------------------------------------
@dataclass(frozen=True)
class ExtremeGroups:
    """Attack groups: (rating band, item, cohort) triples rated by anomalously many users
    of the cohort.

    Attributes:
        users: dense user index of every (user, group) membership.
        groups: the group of each membership, ``(band * n_items + item) * n_cohorts + cohort``.
        excess: per group id, the share of its members in excess of chance,
            ``(O - E) / O`` (0 for triples that are not groups).
    """

    users: NDArray[np.int64]
    groups: NDArray[np.int64]
    excess: NDArray[np.float64]


#: What ``_dense`` returns: ``(users, u, i, r, n_items)``.
Dense = tuple[NDArray[np.int64], NDArray[np.int64], NDArray[np.int64], NDArray[np.float64], int]


def extreme_bands(r: NDArray[np.float64]) -> tuple[NDArray[np.bool_], ...]:
    """Row masks of the rating bands attack groups are sought in, in group-id order: the
    scale maximum, the minimum, and one step below the maximum (empty on scales of fewer
    than three levels)."""
    levels = np.unique(r)
    high, low = levels.max(), levels.min()
    second = levels[-2] if len(levels) > 2 else high
    return r >= high, r <= low, (r == second) & (second < high)


#: Fewest members an attack group may have.
MIN_GROUP = 5
#: Poisson z-score a group of suspects' extreme ratings of one item must reach.
GROUP_Z = 4.0
#: Classifier probability from which a user is a suspect for the group tests.
CANDIDATE_LEVEL = 0.5


def extreme_groups(
    u: NDArray[np.int64],
    i: NDArray[np.int64],
    r: NDArray[np.float64],
    cohort: NDArray[np.bool_] | NDArray[np.int64],
    *,
    n_items: int,
    min_group: int = MIN_GROUP,
    z_threshold: float = GROUP_Z,
) -> ExtremeGroups:
    """Items that the users of a cohort rate at an extreme far more often than chance.

    ``cohort`` gives each user's cohort (``-1``: none), or is a boolean mask of one cohort
    (the candidates). For every item, rating band (the scale maximum, the minimum, maximum
    - 1 step) and cohort, the number ``O`` of the cohort's users rating the item in that
    band is compared with the number expected if the cohort were a random sample of the
    users, ``E``; triples with ``O >= min_group`` and a Poisson z-score
    ``(O - E) / sqrt(max(E, 1))`` of at least ``z_threshold`` are attack groups.
    """
    n_users = len(cohort)
    member = np.where(cohort, 0, -1) if cohort.dtype == bool else np.asarray(cohort, dtype=np.int64)
    n_cohorts = int(member.max()) + 1 if n_users and member.max() >= 0 else 0
    bands = extreme_bands(r)
    excess = np.zeros(len(bands) * n_items * n_cohorts)
    users: list[NDArray[np.int64]] = []
    groups: list[NDArray[np.int64]] = []
    if n_cohorts:
        size = np.bincount(member[member >= 0], minlength=n_cohorts).astype(np.float64)
        cohort_of = member[u]
        for b, band in enumerate(bands):
            if not band.any():
                continue
            everyone = np.bincount(i[band], minlength=n_items).astype(np.float64)
            rows = np.flatnonzero(band & (cohort_of >= 0))
            key = i[rows] * n_cohorts + cohort_of[rows]
            observed = np.bincount(key, minlength=n_items * n_cohorts).astype(np.float64)
            expected = np.outer(everyone / n_users, size).ravel()
            z = (observed - expected) / np.sqrt(np.maximum(expected, 1.0))
            group = (observed >= min_group) & (z >= z_threshold)
            offset = b * n_items * n_cohorts
            excess[offset : offset + len(group)] = np.where(
                group, (observed - expected) / np.maximum(observed, 1.0), 0.0
            )
            inside = group[key]
            users.append(u[rows[inside]])
            groups.append(offset + key[inside])
    empty = np.empty(0, dtype=np.int64)
    return ExtremeGroups(
        users=np.concatenate(users) if users else empty,
        groups=np.concatenate(groups) if groups else empty,
        excess=excess,
    )


def member_evidence(
    found: ExtremeGroups,
    n_users: int,
    near: tuple[NDArray[np.int64], NDArray[np.int64]] | None = None,
    near_weight: float = 1.0,
) -> NDArray[np.float64]:
    """Each user's strongest group membership: the group's excess share ``(O - E) / O``
    times the user's coverage of the attack, the number of groups the user is in over the
    median among the group's members (a genuine fan of one of a segment attack's six group
    items covers 1/6 of it). ``near`` = ``(users, groups)`` adds weaker memberships, scored
    the same way on their own (a near miss never adds coverage to a full membership) and
    multiplied by ``near_weight``. Non-members score 0."""
    out = np.zeros(n_users)
    if not found.users.size:
        return out
    matched = np.bincount(found.users, minlength=n_users).astype(np.float64)
    ids, group_of = np.unique(found.groups, return_inverse=True)
    typical = np.array([np.median(matched[found.users[group_of == g]]) for g in range(len(ids))])
    evidence = found.excess[found.groups] * np.minimum(1.0, matched[found.users] / typical[group_of])
    np.maximum.at(out, found.users, evidence)
    if near is not None and near[0].size:
        users, groups = near
        position = np.searchsorted(ids, groups)
        known = (position < len(ids)) & (ids[np.minimum(position, len(ids) - 1)] == groups)
        users, groups, position = users[known], groups[known], position[known]
        near_matched = np.bincount(users, minlength=n_users).astype(np.float64)
        coverage = np.minimum(1.0, near_matched[users] / typical[position])
        np.maximum.at(out, users, near_weight * found.excess[groups] * coverage)
    return out


#: Evidence weight of a suspect that rates an attack group's item one step short of the
#: group's extreme (a target-shifted profile among plain push profiles).
NEAR_MISS_WEIGHT = 0.5


#: Width of the profile-size cohorts of ``coordinated_profiles``, in log(profile length):
#: profiles within about 2% of each other's length share a cohort.
SIZE_COHORT_WIDTH = 0.02
#: Poisson z-score a size cohort's extreme ratings of one item must reach. On clean
#: ML-100K the largest is 5.3; a 1% attack (9 profiles) reaches 8 to 9.
COORDINATED_Z = 7.0


def coordinated_profiles(
    frame: pd.DataFrame,
    *,
    width: float = SIZE_COHORT_WIDTH,
    min_group: int = MIN_GROUP,
    z_threshold: float = COORDINATED_Z,
) -> pd.Series:
    """Evidence in [0, 1] that a user is one of a batch of coordinated profiles.

    Independent of any classifier: users are grouped into cohorts of near-identical profile
    size (``width`` in log length), and ``extreme_groups`` looks for an item that one cohort
    rates at the same extreme far more often than chance. Profiles injected by one attack
    share their size (the filler size is a parameter of the attack) and their target, so
    they form such a group even when every profile looks genuine on its own (fillers drawn
    from popular items and rated near the item means). ``member_evidence`` scores the
    members; everyone else scores 0. An attacker who varies profile sizes widely escapes
    this test (the classifier and ``group_evidence`` remain).
    """
    dense = _dense(frame)
    return pd.Series(_coordinated(dense, width, min_group, z_threshold),
                     index=pd.Index(dense[0], name=USER_ID))


def _coordinated(
    dense: Dense, width: float = SIZE_COHORT_WIDTH, min_group: int = MIN_GROUP,
    z_threshold: float = COORDINATED_Z,
) -> NDArray[np.float64]:
    users, u, i, r, n_items = dense
    length = np.bincount(u, minlength=len(users))
    cohort = np.floor(np.log(np.maximum(length, 1)) / width).astype(np.int64)
    cohort -= cohort.min() if len(cohort) else 0
    found = extreme_groups(u, i, r, cohort, n_items=n_items, min_group=min_group,
                           z_threshold=z_threshold)
    return member_evidence(found, len(users))


def _dense(frame: pd.DataFrame) -> Dense:
    """Sorted user ids and, per rating, dense user index, dense item index, rating; and the
    number of items."""
    users, u = np.unique(frame[USER_ID].to_numpy(dtype=np.int64), return_inverse=True)
    items, i = np.unique(frame[ITEM_ID].to_numpy(dtype=np.int64), return_inverse=True)
    return users, u.astype(np.int64), i.astype(np.int64), frame[RATING].to_numpy(dtype=np.float64), len(items)


def target_item_scores(
    frame: pd.DataFrame,
    suspicion: pd.Series,
    *,
    candidate_share: float = 0.15,
    min_group: int = MIN_GROUP,
    z_threshold: float = GROUP_Z,
) -> pd.Series:
    """Score users that belong to an anomalously large group of suspects sharing an
    extreme-rated item.

    The ``candidate_share`` most suspicious users are the candidates; ``extreme_groups``
    finds the attack groups among them. A candidate in such a group scores ``(O - E) / O``:
    the share of the group in excess of chance. Everybody else scores 0.
    """
    users, u, i, r, n_items = _dense(frame)
    suspicion_arr = suspicion.reindex(users).fillna(0.0).to_numpy()
    n_cand = max(min_group, int(round(candidate_share * len(users))))
    candidate = np.zeros(len(users), dtype=bool)
    candidate[np.argsort(-suspicion_arr, kind="stable")[:n_cand]] = True
    found = extreme_groups(u, i, r, candidate, n_items=n_items, min_group=min_group,
                           z_threshold=z_threshold)
    out = np.zeros(len(users))
    np.maximum.at(out, found.users, found.excess[found.groups])
    return pd.Series(out, index=pd.Index(users, name=USER_ID))


def _suspect_groups(
    dense: Dense, probability: pd.Series, candidate_level: float, min_group: int,
    z_threshold: float,
) -> tuple[NDArray[np.bool_], ExtremeGroups | None]:
    """The candidates (probability >= ``candidate_level``) and their attack groups (``None``
    with fewer than ``min_group`` candidates)."""
    users, u, i, r, n_items = dense
    candidate = probability.reindex(users).fillna(0.0).to_numpy() >= candidate_level
    if candidate.sum() < min_group:
        return candidate, None
    return candidate, extreme_groups(u, i, r, candidate, n_items=n_items, min_group=min_group,
                                     z_threshold=z_threshold)


def _per_user(
    scorer: Callable[[Dense, NDArray[np.bool_], ExtremeGroups | None], NDArray[np.float64]],
    frame: pd.DataFrame, probability: pd.Series, candidate_level: float, min_group: int,
    z_threshold: float,
) -> pd.Series:
    """``scorer`` of the suspects' groups, as a series by user id."""
    dense = _dense(frame)
    groups = _suspect_groups(dense, probability, candidate_level, min_group, z_threshold)
    return pd.Series(scorer(dense, *groups), index=pd.Index(dense[0], name=USER_ID))


def _group_evidence(
    dense: Dense, candidate: NDArray[np.bool_], found: ExtremeGroups | None
) -> NDArray[np.float64]:
    users, u, i, r, n_items = dense
    if found is None:
        return np.zeros(len(users))
    top_group = found.excess[:n_items] > 0  # band 0 is the maximum (one cohort)
    near = np.flatnonzero(candidate[u] & top_group[i] & extreme_bands(r)[2])
    return member_evidence(found, len(users), (u[near], i[near]), NEAR_MISS_WEIGHT)


def group_evidence(
    frame: pd.DataFrame,
    probability: pd.Series,
    *,
    candidate_level: float = CANDIDATE_LEVEL,
    min_group: int = MIN_GROUP,
    z_threshold: float = GROUP_Z,
) -> pd.Series:
    """How strongly each user belongs to an attack group, in [0, 1].

    Candidates are the users whose ``probability`` (the classifier's) reaches
    ``candidate_level``; ``extreme_groups`` finds the items they rate at an extreme far more
    often than chance. Fake profiles of one attack all rate the same target (and selected
    items) the same way, so they form such groups; a genuine false positive is isolated and
    on clean data no group exists. A member's evidence is the group's excess share
    ``(O - E) / O`` times its coverage: the number of group items it matches over the
    median among the group's members (a genuine fan of one of a segment attack's six
    group items covers 1/6 of it). A candidate rating a maximum-band group's item one step
    below the maximum (a target-shift obfuscation mixed into a push attack) is a member
    with weight ``NEAR_MISS_WEIGHT``. Non-members score 0.
    """
    return _per_user(_group_evidence, frame, probability, candidate_level, min_group, z_threshold)


#: Share of a user's probability kept without any group evidence: below 0.5, so that an
#: isolated suspect is never flagged at the default threshold.
GROUP_FLOOR = 0.4


#: Score of an accomplice (see ``accomplices``) per unit of its group's excess share: below
#: 0.5, so accomplices are never flagged, and about ``GROUP_FLOOR`` (the most an
#: unconfirmed suspect keeps), so they rank with the classifier's strongest isolated
#: suspects rather than below them.
ACCOMPLICE_SCORE = 0.45
#: How far (relative) an accomplice's profile size may lie outside its group's sizes.
ACCOMPLICE_SIZE_SLACK = 0.1


def _accomplices(
    dense: Dense, candidate: NDArray[np.bool_], found: ExtremeGroups | None
) -> NDArray[np.float64]:
    users, u, i, r, n_items = dense
    out = np.zeros(len(users))
    if found is None or not found.users.size:
        return out
    length = np.bincount(u, minlength=len(users)).astype(np.float64)
    ids, group_of = np.unique(found.groups, return_inverse=True)
    bands = extreme_bands(r)
    for k, gid in enumerate(ids):
        sizes = length[found.users[group_of == k]]
        band, item = divmod(int(gid), n_items)
        rows = np.flatnonzero(bands[band] & (i == item) & ~candidate[u])
        size = length[u[rows]]
        inside = ((size >= sizes.min() / (1 + ACCOMPLICE_SIZE_SLACK))
                  & (size <= sizes.max() * (1 + ACCOMPLICE_SIZE_SLACK)))
        np.maximum.at(out, u[rows[inside]], ACCOMPLICE_SCORE * found.excess[gid])
    return out


def accomplices(
    frame: pd.DataFrame,
    probability: pd.Series,
    *,
    candidate_level: float = CANDIDATE_LEVEL,
    min_group: int = MIN_GROUP,
    z_threshold: float = GROUP_Z,
) -> pd.Series:
    """Scores in ``[0, ACCOMPLICE_SCORE]`` for users the classifier did not suspect who rate
    an attack group's item at the group's extreme with a profile of the group's size
    (within ``ACCOMPLICE_SIZE_SLACK``): the few profiles of another kind hidden in a mixed
    attack. Ranked above unsuspected users, never flagged by themselves."""
    return _per_user(_accomplices, frame, probability, candidate_level, min_group, z_threshold)


def confirm_groups(
    frame: pd.DataFrame,
    probability: pd.Series,
    *,
    floor: float = GROUP_FLOOR,
    candidate_level: float = CANDIDATE_LEVEL,
    min_group: int = MIN_GROUP,
    z_threshold: float = GROUP_Z,
) -> pd.Series:
    """Final scores: the largest of ``probability * (floor + (1 - floor) * group_evidence)``,
    ``coordinated_profiles`` and ``accomplices``.

    The first is never above the probability: a suspect with no attack group keeps
    ``floor`` of it (the ranking among users is kept, so precision-at-recall stays
    meaningful). The second flags batches of same-size profiles sharing an extreme-rated
    item that the classifier missed. The third ranks (never flags) unsuspected profiles of
    an attack group's size that rate its item at its extreme. The suspects' groups are
    found once for the first and the third (``candidate_level``, ``min_group`` and
    ``z_threshold`` as in ``group_evidence``).
    """
    dense = _dense(frame)
    groups = _suspect_groups(dense, probability, candidate_level, min_group, z_threshold)
    index = pd.Index(dense[0], name=USER_ID)

    def aligned(values: NDArray[np.float64]) -> NDArray[np.float64]:
        series = pd.Series(values, index=index).reindex(probability.index).fillna(0.0)
        return np.asarray(series, dtype=np.float64)

    evidence = aligned(_group_evidence(dense, *groups))
    confirmed = probability.to_numpy() * (floor + (1.0 - floor) * evidence)
    coordinated = aligned(_coordinated(dense))
    hidden = aligned(_accomplices(dense, *groups))
    best = np.maximum.reduce([confirmed, coordinated, hidden])
    return pd.Series(best, index=probability.index, name="score")


class TargetItemAnalysis(ShillingDetector):
    """Target-item analysis (in the spirit of Zhou, Wen, Xiong, Gao and Zhang 2016,
    "Detecting shilling attacks with DegreeSAD and target item analysis", TKDE 28).

    Attackers must all rate their target at an extreme, so among suspicious users the
    target item's extreme ratings form a group far larger than chance. Suspects come from
    PCA-VarSelect's loadings; see ``target_item_scores`` for the test.
    """

    name = "target_item_analysis"

    def __init__(
        self, *, candidate_share: float = 0.15, min_group: int = MIN_GROUP,
        z_threshold: float = GROUP_Z, seed: int = 0,
    ) -> None:
        self.candidate_share = candidate_share
        self.min_group = min_group
        self.z_threshold = z_threshold
        self.seed = seed

    def _score(self, frame: pd.DataFrame) -> pd.Series:
        suspicion = -np.log(pca_contribution(frame, seed=self.seed) + 1e-12)
        return target_item_scores(
            frame, suspicion, candidate_share=self.candidate_share,
            min_group=self.min_group, z_threshold=self.z_threshold,
        )


# -- supervised ----------------------------------------------------------------------------
def detection_features(frame: pd.DataFrame, *, with_members: bool, seed: int = 0) -> pd.DataFrame:
    """Profile attributes, plus the unsupervised detectors' evidence when ``with_members``."""
    attributes = profile_attributes(frame)
    if with_members:
        contribution = pca_contribution(frame, seed=seed)
        attributes["pca_log_contribution"] = np.log(contribution.reindex(attributes.index) + 1e-6)
        attributes["target_item_analysis"] = target_item_scores(
            frame, -np.log(contribution + 1e-12)
        ).reindex(attributes.index)
    return attributes


class TreeEnsemble:
    """A fitted binary ``HistGradientBoostingClassifier`` as plain arrays.

    Persisted as ``.npz`` (``allow_pickle=False``) and evaluated with numpy, so the shipped
    reference model needs neither pickle nor a matching scikit-learn version.
    """

    FIELDS: ClassVar[tuple[str, ...]] = (
        "feature_idx", "num_threshold", "missing_go_to_left", "left", "right", "is_leaf", "value",
    )

    def __init__(self, arrays: dict[str, NDArray[Any]], feature_names: list[str]) -> None:
        self.arrays = arrays
        self.feature_names = feature_names

    @classmethod
    def from_sklearn(cls, model: Any, feature_names: list[str]) -> TreeEnsemble:
        trees = [predictors[0].nodes for predictors in model._predictors]
        sizes = np.array([len(t) for t in trees], dtype=np.int64)
        arrays: dict[str, NDArray[Any]] = {
            name: np.concatenate([t[name] for t in trees]) for name in cls.FIELDS
        }
        arrays["offsets"] = np.r_[0, np.cumsum(sizes)[:-1]].astype(np.int64)
        arrays["baseline"] = np.asarray(model._baseline_prediction, dtype=np.float64).reshape(-1)
        return cls(arrays, feature_names)

    def predict_proba(self, x: NDArray[np.float64]) -> NDArray[np.float64]:
        """Probability of the positive class for each row of ``x``."""
        a = self.arrays
        raw = np.full(len(x), float(a["baseline"][0]))
        rows = np.arange(len(x))
        for offset in a["offsets"]:
            node = np.full(len(x), int(offset))
            active = ~a["is_leaf"][node].astype(bool)
            while active.any():
                n = node[active]
                value = x[rows[active], a["feature_idx"][n]]
                left = np.where(
                    np.isnan(value), a["missing_go_to_left"][n].astype(bool),
                    value <= a["num_threshold"][n],
                )
                node[active] = offset + np.where(left, a["left"][n], a["right"][n])
                active = ~a["is_leaf"][node].astype(bool)
            raw += a["value"][node]
        return 1.0 / (1.0 + np.exp(-raw))

    def save(self, path: str | Path, metadata: dict[str, Any]) -> None:
        """Write ``<path>.npz`` (arrays) and ``<path>.json`` (feature names, metadata)."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        np.savez_compressed(path.with_suffix(".npz"), **self.arrays)  # type: ignore[arg-type]
        path.with_suffix(".json").write_text(
            json.dumps({"feature_names": self.feature_names, **metadata}, indent=2) + "\n"
        )

    @classmethod
    def load(cls, path: str | Path) -> TreeEnsemble:
        path = Path(path)
        meta = json.loads(path.with_suffix(".json").read_text())
        with np.load(path.with_suffix(".npz"), allow_pickle=False) as npz:
            arrays = {key: npz[key] for key in npz.files}
        return cls(arrays, list(meta["feature_names"]))


def _positive_proba(model: Any, feats: pd.DataFrame) -> NDArray[np.float64]:
    if isinstance(model, TreeEnsemble):
        return model.predict_proba(feats.to_numpy(dtype=np.float64))
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1):
        return np.asarray(model.predict_proba(feats.to_numpy())[:, 1], dtype=np.float64)


@dataclass(frozen=True)
class TrainingAttack:
    """One attack injected to build the classifier's training set."""

    kind: str
    size: float
    filler: float
    target: int
    seed: int


class SupervisedDetector(ShillingDetector):
    """A gradient-boosted classifier over profile attributes (Williams, Mobasher and Burke
    2007; Burke et al. 2006 used kNN/C4.5 over the same attributes).

    Two ways to get the classifier, neither needs a pickle:

    ``training="reference"`` (default)
        the reference model shipped in ``recsys/shilling/reference/`` as ``.npz`` + JSON,
        trained by ``train`` on attacks injected into clean ML-100K (every kind, sizes
        and filler sizes drawn from ``TRAINING_SIZES`` / ``TRAINING_FILLERS``) and saved
        by ``save_reference``. ``fit`` only computes attributes and predicts (fast).
    ``training="self"``
        ``fit`` trains on attacks generated from the very data it screens, against that
        data's own users. Fine on clean data (the benchmark uses it with held-out kinds),
        but an attack already in the data then sits among the negatives and the classifier
        learns to call it genuine: measured, this hides whole attacks, so the pipeline uses
        the reference model.

    Training draws, per kind, ``attacks_per_kind`` attacks (sizes and filler sizes
    log-uniform in the given ranges, targets among items with two or more ratings), injects
    ``kinds_per_injection`` of them at a time, and learns the injected users' attributes
    (computed in the poisoned data) against the genuine users' (computed in the data as
    it is: exactly what is scored later).

    Args:
        training: ``reference`` or ``self``.
        training_kinds: attack kinds to train on.
        training_sizes, training_fillers: ``(low, high)`` ranges of attack and filler sizes.
        attacks_per_kind: training attacks per kind.
        kinds_per_injection: attacks injected into the data together (cost vs realism).
        exclude_targets: items never used as training targets.
        exclude_negatives: user ids never used as negatives (for cross-fitting).
        reference: path (without suffix) of the reference model; default: the shipped one.
        seed: randomness of the training attacks and the classifier.
    """

    name = "supervised"
    with_members: ClassVar[bool] = False

    def __init__(
        self,
        *,
        training: str = "reference",
        training_kinds: Sequence[str] = TRAINING_KINDS,
        training_sizes: tuple[float, float] = TRAINING_SIZES,
        training_fillers: tuple[float, float] = TRAINING_FILLERS,
        attacks_per_kind: int = 3,
        kinds_per_injection: int = 3,
        exclude_targets: Sequence[int] = (),
        exclude_negatives: Sequence[int] = (),
        reference: str | Path | None = None,
        seed: int = 0,
    ) -> None:
        if training not in ("reference", "self"):
            raise ValueError(f"training must be 'reference' or 'self', got {training!r}")
        if not training_kinds:
            raise ValueError("training_kinds must name at least one attack kind")
        self.training = training
        self.training_kinds = tuple(training_kinds)
        self.training_sizes = (float(training_sizes[0]), float(training_sizes[1]))
        self.training_fillers = (float(training_fillers[0]), float(training_fillers[1]))
        self.attacks_per_kind = attacks_per_kind
        self.kinds_per_injection = max(1, kinds_per_injection)
        self.exclude_targets = tuple(int(t) for t in exclude_targets)
        self.exclude_negatives = tuple(int(u) for u in exclude_negatives)
        self.reference = Path(reference) if reference is not None else REFERENCE_DIR / self.name
        self.seed = seed
        self.classifier_: Any = None

    def _features(self, frame: pd.DataFrame) -> pd.DataFrame:
        return detection_features(frame, with_members=self.with_members, seed=self.seed)

    def _plan(self, stats: RatingStats) -> list[TrainingAttack]:
        rng = as_rng(self.seed)
        eligible = stats.item_ids[(stats.item_count >= 2) & ~np.isin(stats.item_ids, self.exclude_targets)]
        plan = []
        for repeat in range(self.attacks_per_kind):
            for n, kind in enumerate(self.training_kinds):
                plan.append(TrainingAttack(
                    kind=kind,
                    size=float(np.exp(rng.uniform(*np.log(self.training_sizes)))),
                    filler=float(np.exp(rng.uniform(*np.log(self.training_fillers)))),
                    target=int(rng.choice(eligible)),
                    seed=self.seed * 1000 + repeat * 100 + n,
                ))
        order = rng.permutation(len(plan))
        return [plan[j] for j in order]

    def _positives(self, frame: pd.DataFrame, stats: RatingStats) -> pd.DataFrame:
        """Attributes of injected fake users, a few attacks per poisoned copy of the data."""
        plan = self._plan(stats)
        blocks: list[pd.DataFrame] = []
        for start in range(0, len(plan), self.kinds_per_injection):
            next_id = stats.max_user_id + 1
            fakes: list[pd.DataFrame] = []
            fake_ids: list[NDArray[np.int64]] = []
            for spec in plan[start : start + self.kinds_per_injection]:
                attack = generate_attack(
                    frame, spec.kind, size=spec.size, filler=spec.filler, targets=spec.target,
                    seed=spec.seed, stats=stats, first_user_id=next_id,
                )
                next_id += len(attack.truth)
                fakes.append(attack.fake_ratings.loc[:, list(RATING_COLUMNS)])
                fake_ids.append(attack.fake_users)
            poisoned = pd.concat([frame, *fakes], ignore_index=True)
            feats = self._features(poisoned)
            blocks.append(feats.loc[np.concatenate(fake_ids)])
        return pd.concat(blocks, ignore_index=True)

    def train(self, ratings: Interactions | pd.DataFrame) -> Self:
        """Train a classifier on attacks injected into ``ratings`` against its own users."""
        from sklearn.ensemble import HistGradientBoostingClassifier
        from threadpoolctl import threadpool_limits

        frame = _frame(ratings).loc[:, list(RATING_COLUMNS)]
        stats = RatingStats.from_ratings(frame)
        own = self._features(frame)
        positives = self._positives(frame, stats)
        negatives = own.loc[~own.index.isin(self.exclude_negatives)]
        self.feature_names_: list[str] = list(own.columns)
        x = np.vstack([negatives.loc[:, self.feature_names_].to_numpy(),
                       positives.loc[:, self.feature_names_].to_numpy()])
        y = np.r_[np.zeros(len(negatives)), np.ones(len(positives))]
        model = HistGradientBoostingClassifier(
            max_iter=150, learning_rate=0.1, max_leaf_nodes=15, min_samples_leaf=40,
            l2_regularization=1.0, random_state=self.seed,
        )
        # One thread: OpenMP over a few thousand rows costs more than it saves.
        with threadpool_limits(limits=1):
            model.fit(x, y)
        self.classifier_ = TreeEnsemble.from_sklearn(model, self.feature_names_)
        self.n_positives_: int = len(positives)
        self.n_negatives_: int = len(negatives)
        return self

    def save_reference(self, path: str | Path | None = None, *, dataset: str = "ml-100k") -> Path:
        """Persist the trained classifier as the reference model (``.npz`` + ``.json``)."""
        if not isinstance(self.classifier_, TreeEnsemble):
            raise NotFittedError(f"{type(self).__name__} is not trained: call train() first")
        target = Path(path) if path is not None else self.reference
        self.classifier_.save(target, {
            "detector": self.name,
            "dataset": dataset,
            "training_kinds": list(self.training_kinds),
            "training_sizes": list(self.training_sizes),
            "training_fillers": list(self.training_fillers),
            "attacks_per_kind": self.attacks_per_kind,
            "n_positives": self.n_positives_,
            "n_negatives": self.n_negatives_,
            "seed": self.seed,
        })
        return target

    def _load_reference(self) -> None:
        if not self.reference.with_suffix(".npz").is_file():
            raise FileNotFoundError(
                f"{self.reference}.npz not found: train it with `movierec shilling train-reference`"
            )
        self.classifier_ = TreeEnsemble.load(self.reference)
        self.feature_names_ = self.classifier_.feature_names

    def _predict(self, feats: pd.DataFrame) -> NDArray[np.float64]:
        if self.classifier_ is None:
            raise NotFittedError(f"{type(self).__name__} is not trained: call train() or fit()")
        return _positive_proba(self.classifier_, feats.loc[:, self.feature_names_])

    def score_ratings(self, ratings: Interactions | pd.DataFrame) -> pd.Series:
        """Scores of the users of ``ratings`` with the already trained classifier."""
        feats = self._features(_frame(ratings))
        return pd.Series(self._predict(feats), index=feats.index, name="score")

    def _score(self, frame: pd.DataFrame) -> pd.Series:
        if self.classifier_ is None:
            if self.training == "reference":
                self._load_reference()
            else:
                self.train(frame)
        return self.score_ratings(frame)


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
