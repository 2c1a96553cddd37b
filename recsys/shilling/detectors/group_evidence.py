"""Attack groups: users sharing an extreme-rated item far more often than chance.

The group tests behind the target-item analysis detector and the ensemble's confirmation
(``confirm_groups``): ``group_evidence`` for the classifier's suspects,
``coordinated_profiles`` for same-size batches of profiles, ``accomplices`` for unsuspected
profiles of a group's size.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from recsys.data.schema import ITEM_ID, RATING, USER_ID
from recsys.shilling.detectors.base import ShillingDetector
from recsys.shilling.detectors.pca_varselect import pca_contribution


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
