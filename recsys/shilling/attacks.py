"""Profile-injection (shilling) attack generators with ground truth.

Attack models follow the taxonomy of Lam and Riedl (2004), Burke, Mobasher, Williams and
Bhaumik (2005, "Segment-based injection attacks against collaborative filtering recommender
systems"), Mobasher et al. (2007, "Toward trustworthy recommender systems", ACM TOIT) and the
obfuscation techniques of Williams, Mobasher, Burke and Bhaumik (2006, "Detecting profile
injection attacks in collaborative filtering: a classification-based approach"):

push (target rated the scale maximum)
    ``random``: fillers ~ N(global mean, global sd);
    ``average``: fillers ~ N(item mean, item sd);
    ``bandwagon``: selected popular, well-liked items rated max plus random fillers;
    ``segment``: segment items (liked by the target's audience) rated max, fillers min.
nuke (target rated the scale minimum)
    ``reverse_bandwagon``: selected widely disliked items rated min plus random fillers;
    ``love_hate``: target min, fillers max.
obfuscated push
    ``popular_filler``: average attack whose fillers are drawn from popular items;
    ``noise``: average attack with Gaussian noise injected into the filler ratings;
    ``target_shift``: average attack with the target rated max - 1 step.
``mixed``
    the fake profiles are split between several of the kinds above at once.

Every profile is built with vectorised numpy: no Python loop over fake users. Fake users get
new ids above the largest genuine id, and timestamps drawn from the data's own timestamp
distribution (a rating session of a few minutes starting at a sampled genuine timestamp).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, get_args

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from recsys.data.schema import ITEM_ID, RATING, RATING_COLUMNS, TIMESTAMP, USER_ID
from recsys.sampling import as_rng

AttackKind = Literal[
    "random",
    "average",
    "bandwagon",
    "segment",
    "reverse_bandwagon",
    "love_hate",
    "popular_filler",
    "noise",
    "target_shift",
    "mixed",
]
ATTACK_KINDS: tuple[str, ...] = get_args(AttackKind)
PUSH_KINDS: tuple[str, ...] = ("random", "average", "bandwagon", "segment")
NUKE_KINDS: tuple[str, ...] = ("reverse_bandwagon", "love_hate")
OBFUSCATED_KINDS: tuple[str, ...] = ("popular_filler", "noise", "target_shift")
#: The kinds a ``mixed`` attack splits its profiles between (all push: one intent per target).
MIXED_COMPONENTS: tuple[str, ...] = (
    "random", "average", "bandwagon", "segment", "noise", "target_shift",
)
#: Kinds whose profiles contain selected items, and how many by default.
SELECTED_DEFAULT: dict[str, int] = {"bandwagon": 3, "segment": 5, "reverse_bandwagon": 3}
#: Standard deviation of the noise injected by the ``noise`` obfuscation (rating units).
NOISE_SD = 0.5

ROLE = "role"


def intent_of(kind: str) -> Literal["push", "nuke"]:
    """``nuke`` for attacks that demote their target, ``push`` for every other kind."""
    return "nuke" if kind in NUKE_KINDS else "push"


@dataclass(frozen=True)
class RatingStats:
    """What the generators need to know about the genuine data (computed once, reusable).

    Attributes:
        item_ids: rated item ids, sorted.
        item_count: number of ratings per item.
        item_mean, item_sd: mean and standard deviation of each item's ratings (items with
            one rating get the global sd).
        global_mean, global_sd: over all ratings.
        minimum, maximum, step: the rating scale observed in the data.
        timestamps: every rating's timestamp, sorted (the empirical distribution).
        max_user_id: the largest genuine user id (fake ids start above it).
        n_users: number of genuine users.
        ratings: the genuine ratings frame (contract columns).
    """

    item_ids: NDArray[np.int64]
    item_count: NDArray[np.float64]
    item_mean: NDArray[np.float64]
    item_sd: NDArray[np.float64]
    global_mean: float
    global_sd: float
    minimum: float
    maximum: float
    step: float
    timestamps: NDArray[np.int64]
    max_user_id: int
    n_users: int
    ratings: pd.DataFrame = field(repr=False)

    @classmethod
    def from_ratings(cls, ratings: pd.DataFrame) -> RatingStats:
        frame = ratings.loc[:, list(RATING_COLUMNS)]
        if frame.empty:
            raise ValueError("cannot attack an empty ratings table")
        values = frame[RATING].to_numpy(dtype=np.float64)
        item_ids, item_pos = np.unique(frame[ITEM_ID].to_numpy(dtype=np.int64), return_inverse=True)
        count = np.bincount(item_pos, minlength=len(item_ids)).astype(np.float64)
        total = np.bincount(item_pos, weights=values, minlength=len(item_ids))
        mean = total / count
        square = np.bincount(item_pos, weights=values**2, minlength=len(item_ids))
        var = np.maximum(square / count - mean**2, 0.0) * count / np.maximum(count - 1, 1)
        global_sd = float(values.std(ddof=1)) if len(values) > 1 else 1.0
        sd = np.where(count > 1, np.sqrt(var), global_sd)
        levels = np.unique(values)
        step = float(np.min(np.diff(levels))) if len(levels) > 1 else 1.0
        # Half-star data rounds to 0.5, integer data to 1: never to an odd step seen by chance.
        step = 0.5 if step < 1.0 else 1.0
        return cls(
            item_ids=item_ids,
            item_count=count,
            item_mean=mean,
            item_sd=sd,
            global_mean=float(values.mean()),
            global_sd=global_sd,
            minimum=float(levels.min()),
            maximum=float(levels.max()),
            step=step,
            timestamps=np.sort(frame[TIMESTAMP].to_numpy(dtype=np.int64)),
            max_user_id=int(frame[USER_ID].max()),
            n_users=int(frame[USER_ID].nunique()),
            ratings=frame,
        )

    @property
    def n_items(self) -> int:
        return len(self.item_ids)

    def item_index(self, item_ids: NDArray[np.int64] | list[int] | tuple[int, ...]) -> NDArray[np.int64]:
        """Positions of ``item_ids`` in ``self.item_ids``; raises for an unrated item."""
        wanted = np.asarray(item_ids, dtype=np.int64).reshape(-1)
        pos = np.clip(np.searchsorted(self.item_ids, wanted), 0, self.n_items - 1)
        missing = wanted[self.item_ids[pos] != wanted]
        if missing.size:
            raise ValueError(f"item(s) {', '.join(map(str, missing[:5]))} not rated in the data")
        return pos

    def round(self, values: NDArray[np.float64]) -> NDArray[np.float64]:
        """Round to the scale's step and clip into ``[minimum, maximum]``."""
        snapped = np.round((values - self.minimum) / self.step) * self.step + self.minimum
        return np.clip(snapped, self.minimum, self.maximum)


@dataclass(frozen=True)
class AttackSpec:
    """The parameters of one attack.

    Attributes:
        kind: one of ``ATTACK_KINDS``.
        size: number of fake profiles as a share of genuine users (0.05 = 5%).
        filler: filler items per profile as a share of rated items.
        targets: the attacked item id(s); every fake profile rates all of them.
        selected: selected items (bandwagon, segment, reverse bandwagon); chosen from the
            data when empty.
        seed: randomness of the profiles.
    """

    kind: str
    size: float
    filler: float
    targets: tuple[int, ...]
    selected: tuple[int, ...] = ()
    seed: int = 0

    def __post_init__(self) -> None:
        if self.kind not in ATTACK_KINDS:
            raise ValueError(f"unknown attack kind {self.kind!r}; choose one of: {', '.join(ATTACK_KINDS)}")
        if not 0 < self.size <= 1:
            raise ValueError(f"attack size must be in (0, 1], got {self.size}")
        if not 0 <= self.filler <= 1:
            raise ValueError(f"filler size must be in [0, 1], got {self.filler}")
        if not self.targets:
            raise ValueError("an attack needs at least one target item")

    @property
    def intent(self) -> Literal["push", "nuke"]:
        return intent_of(self.kind)


@dataclass(frozen=True)
class Attack:
    """A generated attack and its ground truth.

    Attributes:
        spec: the parameters.
        ratings: genuine plus fake ratings (contract columns): the poisoned table.
        fake_ratings: the fake ratings only, with a ``role`` column (``target``,
            ``selected`` or ``filler``) and the ``kind`` of the profile.
        truth: one row per fake user: ``user_id``, ``kind``, ``intent``, ``targets``
            (space-separated ids).
    """

    spec: AttackSpec
    ratings: pd.DataFrame
    fake_ratings: pd.DataFrame
    truth: pd.DataFrame

    @property
    def fake_users(self) -> NDArray[np.int64]:
        return self.truth[USER_ID].to_numpy(dtype=np.int64)

    def labels(self) -> pd.Series:
        """``True`` for fake users, indexed by every user id of the poisoned table."""
        users = np.unique(self.ratings[USER_ID].to_numpy())
        return pd.Series(np.isin(users, self.fake_users), index=pd.Index(users, name=USER_ID))


def popular_items(stats: RatingStats, n: int, *, liked: bool = True) -> NDArray[np.int64]:
    """The ``n`` most rated items, among those rated above the global mean when ``liked``."""
    order = np.argsort(-stats.item_count, kind="stable")
    if liked:
        order = order[stats.item_mean[order] >= stats.global_mean]
    return stats.item_ids[order[:n]]


def disliked_items(stats: RatingStats, n: int, *, min_count: int = 20) -> NDArray[np.int64]:
    """The ``n`` items with the lowest mean rating among those with ``min_count`` ratings."""
    enough = np.flatnonzero(stats.item_count >= min(min_count, stats.item_count.max()))
    order = enough[np.argsort(stats.item_mean[enough], kind="stable")]
    return stats.item_ids[order[:n]]


def segment_items(stats: RatingStats, target: int, n: int) -> NDArray[np.int64]:
    """Items the target's audience likes: most often rated max by users who liked the target.

    Falls back to popular liked items when the target has too few fans.
    """
    frame = stats.ratings
    fans = frame.loc[(frame[ITEM_ID] == target) & (frame[RATING] >= stats.maximum - stats.step), USER_ID]
    liked = frame[frame[USER_ID].isin(fans) & (frame[RATING] >= stats.maximum) & (frame[ITEM_ID] != target)]
    ranked = liked[ITEM_ID].value_counts().index.to_numpy(dtype=np.int64)[:n]
    if len(ranked) < n:
        extra = popular_items(stats, n + 1 + len(ranked))
        extra = extra[~np.isin(extra, np.append(ranked, target))]
        ranked = np.concatenate([ranked, extra[: n - len(ranked)]])
    return ranked


def default_selected(stats: RatingStats, kind: str, targets: tuple[int, ...]) -> tuple[int, ...]:
    """The selected items a kind uses when none are given (empty for kinds without any)."""
    n = SELECTED_DEFAULT.get(kind, 0)
    if n == 0:
        return ()
    if kind == "bandwagon":
        chosen = popular_items(stats, n + len(targets))
    elif kind == "reverse_bandwagon":
        chosen = disliked_items(stats, n + len(targets))
    else:
        chosen = segment_items(stats, targets[0], n + len(targets))
    chosen = chosen[~np.isin(chosen, targets)][:n]
    return tuple(int(x) for x in chosen)


def _sample_fillers(
    stats: RatingStats,
    n_profiles: int,
    n_filler: int,
    excluded: NDArray[np.int64],
    rng: np.random.Generator,
    *,
    popular: bool,
) -> NDArray[np.int64]:
    """``(n_profiles, n_filler)`` item positions sampled without replacement per profile.

    Gumbel top-k: uniform keys for random fillers, keys weighted by item popularity for the
    popular-filler obfuscation.
    """
    allowed = np.ones(stats.n_items, dtype=bool)
    allowed[excluded] = False
    candidates = np.flatnonzero(allowed)
    n_filler = min(n_filler, len(candidates))
    if n_filler == 0 or n_profiles == 0:
        return np.empty((n_profiles, 0), dtype=np.int64)
    keys = rng.random((n_profiles, len(candidates)))
    if popular:
        weights = stats.item_count[candidates] ** 2
        keys = np.log(keys) / weights  # Efraimidis-Spirakis: key = u ** (1 / w)
    chosen = np.argpartition(-keys, n_filler - 1, axis=1)[:, :n_filler]
    return candidates[chosen]


def _profiles(
    stats: RatingStats,
    kind: str,
    n_profiles: int,
    n_filler: int,
    targets: NDArray[np.int64],
    selected: NDArray[np.int64],
    rng: np.random.Generator,
) -> tuple[NDArray[np.int64], NDArray[np.int64], NDArray[np.float64], NDArray[np.str_]]:
    """Row-in-attack, item position, rating and role of every fake rating of one kind."""
    target_pos = stats.item_index(targets)
    selected_pos = stats.item_index(selected) if len(selected) else np.empty(0, np.int64)
    excluded = np.concatenate([target_pos, selected_pos])
    fill = _sample_fillers(stats, n_profiles, n_filler, excluded, rng, popular=kind == "popular_filler")
    shape = fill.shape
    if kind == "random":
        fill_r = rng.normal(stats.global_mean, stats.global_sd, shape)
    elif kind in ("average", "popular_filler", "noise", "target_shift"):
        fill_r = rng.normal(stats.item_mean[fill], stats.item_sd[fill])
        if kind == "noise":
            fill_r = fill_r + rng.normal(0.0, NOISE_SD, shape)
    elif kind in ("bandwagon", "reverse_bandwagon"):
        fill_r = rng.normal(stats.global_mean, stats.global_sd, shape)
    elif kind == "segment":
        fill_r = np.full(shape, stats.minimum)
    elif kind == "love_hate":
        fill_r = np.full(shape, stats.maximum)
    else:  # pragma: no cover - guarded by AttackSpec
        raise ValueError(kind)
    fill_r = stats.round(fill_r)

    intent = intent_of(kind)
    extreme = stats.maximum if intent == "push" else stats.minimum
    target_value = stats.maximum - stats.step if kind == "target_shift" else extreme
    rows = np.arange(n_profiles)
    parts_row = [np.repeat(rows, shape[1]), np.repeat(rows, len(target_pos))]
    parts_item = [fill.reshape(-1), np.tile(target_pos, n_profiles)]
    parts_rating = [fill_r.reshape(-1), np.full(n_profiles * len(target_pos), target_value)]
    parts_role = [np.full(fill.size, "filler"), np.full(n_profiles * len(target_pos), "target")]
    if len(selected_pos):
        parts_row.append(np.repeat(rows, len(selected_pos)))
        parts_item.append(np.tile(selected_pos, n_profiles))
        parts_rating.append(np.full(n_profiles * len(selected_pos), extreme))
        parts_role.append(np.full(n_profiles * len(selected_pos), "selected"))
    return (
        np.concatenate(parts_row),
        np.concatenate(parts_item),
        np.concatenate(parts_rating),
        np.concatenate(parts_role),
    )


def _timestamps(
    stats: RatingStats, rows: NDArray[np.int64], n_profiles: int, rng: np.random.Generator
) -> NDArray[np.int64]:
    """A rating session per profile: start at a sampled genuine timestamp, 5-120 s per rating."""
    starts = stats.timestamps[rng.integers(0, len(stats.timestamps), n_profiles)]
    order = np.lexsort((rng.random(len(rows)), rows))
    gaps = rng.integers(5, 121, len(rows))
    sorted_rows = rows[order]
    cumulative = np.cumsum(gaps)
    first = np.searchsorted(sorted_rows, np.arange(n_profiles))
    offset = cumulative - np.repeat(cumulative[first] - gaps[first], np.bincount(sorted_rows, minlength=n_profiles))
    out = np.empty(len(rows), dtype=np.int64)
    out[order] = np.minimum(starts[sorted_rows] + offset, stats.timestamps[-1])
    return out


def n_profiles_for(stats: RatingStats, size: float) -> int:
    """Fake profiles of an attack of ``size`` (share of genuine users), at least one."""
    return max(1, int(round(size * stats.n_users)))


def n_fillers_for(stats: RatingStats, filler: float) -> int:
    """Filler items per profile for a filler size (share of rated items)."""
    return int(round(filler * stats.n_items))


def generate_attack(
    ratings: pd.DataFrame,
    kind: str,
    *,
    size: float,
    filler: float,
    targets: int | list[int] | tuple[int, ...],
    selected: list[int] | tuple[int, ...] | None = None,
    seed: int | np.random.Generator | None = 0,
    stats: RatingStats | None = None,
    first_user_id: int | None = None,
) -> Attack:
    """Inject one attack into ``ratings``.

    Args:
        ratings: genuine ratings (contract columns).
        kind: one of ``ATTACK_KINDS``.
        size: fake profiles as a share of genuine users.
        filler: filler items per profile as a share of rated items.
        targets: target item id(s), each rated by every fake profile.
        selected: selected items for bandwagon/segment/reverse bandwagon (default: chosen
            from the data); ignored by kinds without selected items.
        seed: randomness.
        stats: precomputed ``RatingStats.from_ratings(ratings)`` (saves time in loops).
        first_user_id: id of the first fake user (default: the largest genuine id + 1).

    Returns:
        The poisoned table with the fake ratings and the ground truth beside it.
    """
    target_tuple = (
        (int(targets),) if isinstance(targets, (int, np.integer)) else tuple(int(t) for t in targets)
    )
    spec_seed = seed if isinstance(seed, int) else 0
    spec = AttackSpec(kind, float(size), float(filler), target_tuple,
                      tuple(int(s) for s in (selected or ())), spec_seed)
    rng = as_rng(seed)
    stats = stats if stats is not None else RatingStats.from_ratings(ratings)
    target_arr = np.asarray(target_tuple, dtype=np.int64)
    stats.item_index(target_arr)  # unrated targets are an error

    n_profiles = n_profiles_for(stats, size)
    n_filler = n_fillers_for(stats, filler)
    if kind == "mixed":
        assignment = np.arange(n_profiles) % len(MIXED_COMPONENTS)
        kinds = [MIXED_COMPONENTS[a] for a in rng.permutation(assignment)]
    else:
        kinds = [kind] * n_profiles
    first = (stats.max_user_id + 1) if first_user_id is None else int(first_user_id)
    user_ids = np.arange(first, first + n_profiles, dtype=np.int64)
    kinds_arr = np.asarray(kinds)

    frames: list[pd.DataFrame] = []
    for component in dict.fromkeys(kinds):
        members = np.flatnonzero(kinds_arr == component)
        chosen = (
            tuple(spec.selected) if spec.selected and component in SELECTED_DEFAULT
            else default_selected(stats, component, target_tuple)
        )
        rows, item_pos, values, roles = _profiles(
            stats, component, len(members), n_filler, target_arr,
            np.asarray(chosen, dtype=np.int64), rng,
        )
        frames.append(pd.DataFrame({
            USER_ID: user_ids[members][rows],
            ITEM_ID: stats.item_ids[item_pos],
            RATING: values,
            TIMESTAMP: _timestamps(stats, rows, len(members), rng),
            ROLE: roles,
            "kind": component,
        }))
    fake = pd.concat(frames, ignore_index=True).sort_values([USER_ID, TIMESTAMP], kind="stable")
    fake = fake.reset_index(drop=True)
    genuine = ratings.loc[:, list(RATING_COLUMNS)]
    poisoned = pd.concat([genuine, fake.loc[:, list(RATING_COLUMNS)]], ignore_index=True)
    poisoned = poisoned.astype({USER_ID: "int64", ITEM_ID: "int64", RATING: "float64", TIMESTAMP: "int64"})
    truth = pd.DataFrame({
        USER_ID: user_ids,
        "kind": kinds_arr,
        "intent": [intent_of(k) for k in kinds],
        "targets": " ".join(map(str, target_tuple)),
    })
    return Attack(spec=spec, ratings=poisoned, fake_ratings=fake, truth=truth)
