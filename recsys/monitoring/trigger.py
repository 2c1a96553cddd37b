"""When to retrain: like-with-like data drift, weighted by its effect on quality, and the
champion's own quality on each new batch.

Evidently's per-column tests compare a week of ratings with years of training data, so the
columns that describe *when* and *who* (hour, weekday, a new user's zero activity) drift in
every batch. Here a batch is compared with what an ordinary batch of the same span looked
like in the reference, and only in the columns that change what the champion can do:

- ``new_user``: how many users the champion never saw the batch holds (``log1p`` of the
  count: each gets the popularity fallback). A batch covers one span, so counts compare
  like with like; in ML-100K most of every week's ratings come from users who joined that
  week, so a *share* of new users says little, while a burst multiplies their number;
- ``new_item``: the share of the batch's ratings that go to movies the champion never saw
  (it can never recommend them: each such rating is a hit it cannot make);
- ``rating``: Wasserstein distance of the batch's ratings from the reference's recent span;
- ``genre``: Jensen-Shannon distance of the batch's genre mix from the recent span.

The null distribution of each statistic comes from the reference itself: the last
``calibration_spans`` spans, each against the data before it (``calibrate``). A batch's
statistic is scored as a robust z-score, ``(value - median) / scale`` with the scale from
the spread of those spans (MAD) and from the batch's own sampling error (a bootstrap of its
rows), and a column drifts when ``weight * z`` passes ``z_threshold``; weights say how much
a column's shift costs in quality (0: reported, never acted on).

The quality signal (``quality_baseline`` / ``quality_drop``) is the champion's NDCG@10 on
the batch (its ratings are the ground truth of what it should have recommended before it),
taken paired against a cross-fitted trend baseline on the same users (the items the other
half of the batch's users rated), so that the batch's make-up cancels. That gap is set
against the gap a model of the champion's kind showed on the reference's last spans when
trained without them, with a threshold from the spread of those spans and the batch's own
bootstrap error.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy.spatial.distance import jensenshannon
from scipy.stats import wasserstein_distance

from recsys.data.schema import ITEM_ID, RATING, TIMESTAMP, USER_ID
from recsys.serving.recent import RecentHistories, rank_recent

DAY = 24 * 3600
#: Statistics of a batch that ``batch_statistics`` computes, in report order.
STATISTICS = ("new_user", "new_item", "rating", "genre")
#: MAD -> standard deviation of a normal distribution.
MAD_SCALE = 1.4826
#: The smallest scale of each statistic: a null distribution that hardly varies (no new
#: items in any reference span) must not turn one new item into an outlier.
FLOOR = {"new_user": 0.25, "new_item": 0.01, "rating": 0.01, "genre": 0.01}


@dataclass(frozen=True)
class Calibration:
    """The null distribution of each statistic: one value per reference span."""

    spans: pd.DataFrame
    span_days: float
    recent: pd.DataFrame
    #: the median number of ratings in a reference span (the unit of ``staleness``)
    span_rows: float = 0.0

    def to_json(self) -> dict[str, Any]:
        return {"span_days": self.span_days, "spans": len(self.spans),
                "span_rows": self.span_rows,
                "median": {c: float(self.spans[c].median()) for c in self.spans},
                "max": {c: float(self.spans[c].max()) for c in self.spans}}


@dataclass(frozen=True)
class ColumnScore:
    """One statistic of a batch against its null distribution."""

    value: float
    median: float
    scale: float
    z: float
    weight: float
    drifted: bool


@dataclass(frozen=True)
class QualityBaseline:
    """The expected NDCG@k of a champion of this kind on a new batch, and its spread."""

    level: float
    spread: float
    spans: list[float] = field(default_factory=list)


@dataclass(frozen=True)
class QualityCheck:
    """The champion's NDCG@k on a batch against its expected level."""

    ndcg: float | None
    level: float
    threshold: float
    dropped: bool
    evaluated_users: int
    reason: str


def _shares(values: pd.Series) -> pd.Series:
    return values.value_counts(normalize=True)


def _js(a: pd.Series, b: pd.Series) -> float:
    if a.empty or b.empty:
        return 0.0
    index = a.index.union(b.index)
    return float(jensenshannon(a.reindex(index, fill_value=0).to_numpy(),
                               b.reindex(index, fill_value=0).to_numpy(), base=2))


def batch_statistics(
    known_users: np.ndarray, known_items: np.ndarray, recent: pd.DataFrame,
    batch: pd.DataFrame, genre: pd.Series,
) -> dict[str, float]:
    """The monitored statistics of ``batch`` (see the module docstring).

    Args:
        known_users, known_items: the ids the champion was trained on (sorted unique).
        recent: the reference's most recent span(s) (for the rating and genre mix).
        batch: the new ratings.
        genre: item_id -> genre (``recsys.monitoring.features.first_genre``).
    """
    if batch.empty:
        return dict.fromkeys(STATISTICS, 0.0)
    users = batch[USER_ID].to_numpy()
    items = batch[ITEM_ID].to_numpy()
    out = {
        "new_user": float(np.log1p(np.unique(users[~np.isin(users, known_users)]).size)),
        "new_item": float(1.0 - np.isin(items, known_items).mean()),
        "rating": float(wasserstein_distance(batch[RATING].to_numpy(float),
                                             recent[RATING].to_numpy(float)))
        if len(recent) else 0.0,
        "genre": 0.0,
    }
    if len(genre) and len(recent):
        out["genre"] = _js(_shares(genre.reindex(items).fillna("unknown")),
                           _shares(genre.reindex(recent[ITEM_ID].to_numpy()).fillna("unknown")))
    return out


def span_index(ratings: pd.DataFrame, span_days: float, end: int | None = None) -> pd.Series:
    """Which span (0 = the one ending at ``end``, 1 the one before...) each rating is in."""
    end = int(ratings[TIMESTAMP].max()) + 1 if end is None else end
    return ((end - 1 - ratings[TIMESTAMP]) // int(span_days * DAY)).astype(int)


def recent_span(reference: pd.DataFrame, span_days: float) -> pd.DataFrame:
    """The reference's last span (what a batch of the same length is compared with)."""
    return reference[span_index(reference, span_days) == 0]


def calibrate(
    reference: pd.DataFrame, genre: pd.Series, *, span_days: float = 7.0,
    spans: int = 8, min_rows: int = 100,
) -> Calibration:
    """The statistics of the reference's last ``spans`` spans, each against the data before
    it (its users and items) and the span before it (its rating and genre mix).

    Spans with fewer than ``min_rows`` ratings are left out, as such batches are never
    acted on.
    """
    index = span_index(reference, span_days)
    rows = []
    for s in range(min(spans, int(index.max()))):
        batch = reference[index == s]
        before = reference[index > s]
        if len(batch) < min_rows or before.empty:
            continue
        rows.append(batch_statistics(np.unique(before[USER_ID]), np.unique(before[ITEM_ID]),
                                     before[index[index > s] == s + 1], batch, genre))
    frame = pd.DataFrame(rows, columns=list(STATISTICS))
    sizes = index[index < max(spans, 1)].value_counts()
    sizes = sizes[sizes >= min_rows]
    return Calibration(frame, span_days, recent_span(reference, span_days),
                       float(sizes.median()) if len(sizes) else float(min_rows))


def score_batch(
    reference: pd.DataFrame, batch: pd.DataFrame, calibration: Calibration, genre: pd.Series,
    *, weights: Mapping[str, float], z_threshold: float, seed: int = 0, rounds: int = 30,
) -> dict[str, ColumnScore]:
    """Each statistic of ``batch`` as a robust z-score against ``calibration``.

    The scale is the spread of the calibration spans (MAD, as a standard deviation) and the
    batch's own sampling error (bootstrap of its rows) added in quadrature; only an increase
    counts (fewer new users than usual is no reason to retrain).
    """
    known_users = np.unique(reference[USER_ID])
    known_items = np.unique(reference[ITEM_ID])
    recent = calibration.recent

    def stats(frame: pd.DataFrame) -> dict[str, float]:
        return batch_statistics(known_users, known_items, recent, frame, genre)

    values = stats(batch)
    rng = np.random.default_rng(seed)
    boots = [stats(batch.iloc[rng.integers(0, len(batch), len(batch))])
             for _ in range(rounds if len(batch) else 0)]
    out: dict[str, ColumnScore] = {}
    for name in STATISTICS:
        null = calibration.spans[name].to_numpy(float) if len(calibration.spans) else np.zeros(1)
        median = float(np.median(null))
        mad = MAD_SCALE * float(np.median(np.abs(null - median)))
        sampling = float(np.std([b[name] for b in boots], ddof=1)) if len(boots) > 1 else 0.0
        # a floor keeps a degenerate null (no new items in any span) from making a few new
        # items an outlier
        scale = max(float(np.hypot(mad, sampling)), FLOOR[name])
        z = (values[name] - median) / scale
        weight = float(weights.get(name, 0.0))
        out[name] = ColumnScore(round(values[name], 4), round(median, 4), round(scale, 4),
                                round(z, 3), weight, weight * z > z_threshold)
    return out


# -- quality ---------------------------------------------------------------------------------
def batch_ndcg_per_user(model: Any, batch: pd.DataFrame, k: int = 10,
                        recent: RecentHistories | None = None) -> np.ndarray:
    """NDCG@k of each of the batch's users, the batch's items being the relevant ones (the
    model's own seen items are excluded, as when it serves). Users in ``recent`` are scored
    from their whole history, as the service scores them (``recsys.serving.recent``)."""
    truth = batch.groupby(USER_ID)[ITEM_ID].apply(set)
    if truth.empty:
        return np.zeros(0)
    lists: dict[Any, np.ndarray] = {}
    frozen = truth.index.to_numpy()
    if recent:
        for user in frozen:
            fresh = rank_recent(model, int(user), recent, k)
            if fresh is not None:
                lists[user] = model.items_.id_of(fresh[0][fresh[0] >= 0])
        frozen = np.array([u for u in frozen if u not in lists], dtype=frozen.dtype)
    if frozen.size:
        recs = model.recommend(frozen, k=k).frame.sort_values([USER_ID, "rank"])
        lists.update({user: rows[ITEM_ID].to_numpy() for user, rows in recs.groupby(USER_ID)})
    discounts = 1.0 / np.log2(np.arange(2, k + 2))
    scores = np.zeros(len(truth))
    for n, (user, relevant) in enumerate(truth.items()):
        items = lists.get(user)
        if items is None:
            continue
        items = items[:k]
        gains = np.isin(items, list(relevant)).astype(float)
        ideal = float(discounts[: min(len(relevant), k)].sum())
        scores[n] = float((gains * discounts[: len(gains)]).sum()) / ideal
    return scores


def unseen_pairs(model_ratings: pd.DataFrame, batch: pd.DataFrame) -> pd.DataFrame:
    """The batch's ratings of (user, item) pairs the champion did not train on: only those
    say anything about what it recommends next."""
    seen = pd.MultiIndex.from_frame(model_ratings[[USER_ID, ITEM_ID]])
    pairs = pd.MultiIndex.from_frame(batch[[USER_ID, ITEM_ID]])
    return batch[~pairs.isin(seen)]


def trend_ndcg_per_user(model_ratings: pd.DataFrame, batch: pd.DataFrame, k: int = 10,
                        seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Each batch user's NDCG@k under a *trend* baseline, cross-fitted: the batch's users are
    split in two halves at random and each half gets the items most rated by the other half
    (minus what the user rated in ``model_ratings``). No user's own ratings score its list.

    Returns:
        ``(users, ndcg)`` with users sorted as ``batch.groupby(USER_ID)`` sorts them.
    """
    truth = batch.groupby(USER_ID)[ITEM_ID].apply(set)
    users = truth.index.to_numpy()
    if users.size == 0:
        return users, np.zeros(0)
    half = np.random.default_rng(seed).random(users.size) < 0.5
    seen = model_ratings[model_ratings[USER_ID].isin(users)].groupby(USER_ID)[ITEM_ID].apply(set)
    discounts = 1.0 / np.log2(np.arange(2, k + 2))
    scores = np.zeros(users.size)
    for side in (True, False):
        others = batch[batch[USER_ID].isin(users[half != side])]
        ranked = others[ITEM_ID].value_counts().index.to_numpy()
        for n in np.flatnonzero(half == side):
            own = seen.get(users[n], set())
            top = [i for i in ranked[: k + len(own)] if i not in own][:k]
            relevant = truth.iloc[n]
            gains = np.isin(np.asarray(top), list(relevant)).astype(float)
            ideal = float(discounts[: min(len(relevant), k)].sum())
            scores[n] = float((gains * discounts[: len(gains)]).sum()) / ideal
    return users, scores


def quality_gap_per_user(model: Any, model_ratings: pd.DataFrame, batch: pd.DataFrame,
                         k: int = 10, seed: int = 0) -> np.ndarray:
    """Per batch user: the champion's NDCG@k minus the cross-fitted trend baseline's.

    The difference is paired on the same users, so the batch's make-up (how many ratings
    each user has, how many are new) mostly cancels; what is left is how far the champion
    is behind what the batch itself says is being watched now."""
    champion = batch_ndcg_per_user(model, batch, k)
    _, trend = trend_ndcg_per_user(model_ratings, batch, k, seed)
    return champion - trend


def quality_baseline(
    fit: Callable[[pd.DataFrame], Any], reference: pd.DataFrame, *, span_days: float = 7.0,
    spans: int = 4, min_rows: int = 100, k: int = 10,
) -> QualityBaseline | None:
    """The quality gap (``quality_gap_per_user``) a model of the champion's kind shows on
    the reference's last ``spans`` spans when trained on the data before them (one extra
    fit): the level a batch is expected at, with the spread of those spans. ``None`` when
    no span is large enough."""
    index = span_index(reference, span_days)
    before = reference[index >= spans]
    if before.empty:
        return None
    model = fit(before)
    values = []
    for s in range(spans - 1, -1, -1):
        batch = unseen_pairs(before, reference[index == s])
        if len(batch) >= min_rows:
            values.append(float(quality_gap_per_user(model, before, batch, k).mean()))
    if not values:
        return None
    spread = float(np.std(values, ddof=1)) if len(values) > 1 else 0.0
    return QualityBaseline(float(np.mean(values)), spread, values)


def quality_drop(
    model: Any, model_ratings: pd.DataFrame, batch: pd.DataFrame,
    baseline: QualityBaseline | Callable[[], QualityBaseline | None] | None, *,
    z_threshold: float, min_rows: int = 100, k: int = 10, seed: int = 0, rounds: int = 200,
    recent: RecentHistories | None = None,
) -> QualityCheck:
    """Whether the champion fell behind the trend baseline on ``batch`` by more than it did
    on the reference's spans: its gap below the expected level by more than
    ``z_threshold`` times the spread (the spans' spread and the batch's bootstrap error over
    users, in quadrature). ``ndcg`` is the champion's own NDCG@k on the batch, as served
    (users in ``recent`` from their whole history: ``recsys.serving.recent``).

    ``baseline`` may be a function that fits it (``quality_baseline``, one refit of the
    champion): it is called only when the batch has ``min_rows`` new pairs to score."""
    fresh = unseen_pairs(model_ratings, batch)
    if len(fresh) < min_rows:
        level = baseline.level if isinstance(baseline, QualityBaseline) else float("nan")
        return QualityCheck(None, level, float("nan"), False, 0,
                            f"only {len(fresh)} new (user, item) pairs: quality not measured")
    if callable(baseline):
        baseline = baseline()
    if baseline is None:
        return QualityCheck(None, float("nan"), float("nan"), False, 0,
                            "no quality baseline (reference too short)")
    champion = batch_ndcg_per_user(model, fresh, k, recent)
    _, trend = trend_ndcg_per_user(model_ratings, fresh, k, seed)
    gap = champion - trend
    rng = np.random.default_rng(seed)
    boot = gap[rng.integers(0, len(gap), (rounds, len(gap)))].mean(axis=1)
    sampling = float(np.std(boot, ddof=1))
    threshold = baseline.level - z_threshold * float(np.hypot(baseline.spread, sampling))
    dropped = float(gap.mean()) < threshold
    return QualityCheck(round(float(champion.mean()), 4), round(baseline.level, 4),
                        round(threshold, 4), dropped, len(gap),
                        f"champion NDCG@{k} {champion.mean():.4f}, {gap.mean():+.4f} against the "
                        f"batch's trend ({'below' if dropped else 'within'} the expected "
                        f"{baseline.level:+.4f}, threshold {threshold:+.4f})")
