"""Replay a dataset in time order and measure what each retraining policy buys.

The ratings are cut into batches of ``span_days`` after an initial training period. Four
policies are compared on the same batches, each batch scored (NDCG@10, the batch's ratings
being the relevant items) before it is learnt from, as the service serves it: users who
rated since the policy's model was trained are scored from their whole history
(``recsys.serving.recent``), the others from the model's trained rows:

- ``never``: trained once on the initial period;
- ``every_batch``: retrained on everything seen before each batch (the upper bound);
- ``on_drift``: retrained when the like-with-like data statistics drift
  (``recsys.monitoring.trigger.score_batch``), or when the champion is stale by what it has
  not learnt (``recsys.monitoring.staleness``), as long as the retrain budget allows
  (``recsys.monitoring.budget``: ``retrain_budget`` per batch, ``retrain_burst`` banked);
  drift with at least ``drift_min_spans`` reference spans unlearnt does not wait for it;
- ``on_quality``: retrained when the champion's NDCG@10 on a batch drops below its
  expected level (``recsys.monitoring.trigger.quality_drop``).

A retrain decided on the last batch is not counted: no later batch is scored with it.
``trigger_checks`` measures the trigger itself on reference-like batches (which must not
trigger) and on injected shifts (which must).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pandas as pd

from recsys.data.interactions import Interactions
from recsys.data.schema import ITEM_ID, RATING, TIMESTAMP, USER_ID
from recsys.models import BaseRecommender, create
from recsys.monitoring.budget import RetrainBudget, drift_is_urgent
from recsys.monitoring.drift import MonitorConfig
from recsys.monitoring.features import first_genre
from recsys.monitoring.replay_span import replay_spans
from recsys.monitoring.staleness import Staleness, staleness
from recsys.monitoring.trigger import (
    Calibration,
    QualityBaseline,
    batch_ndcg_per_user,
    calibrate,
    quality_baseline,
    quality_drop,
    score_batch,
    span_index,
)
from recsys.serving.recent import RecentHistories, pending_histories

POLICIES = ("never", "every_batch", "on_drift", "on_quality")
Fit = Callable[[pd.DataFrame], BaseRecommender]


@dataclass
class SimulationResult:
    """One row per batch, the policies' summaries and the settings."""

    batches: pd.DataFrame
    model: str
    dataset: str
    policies: dict[str, dict[str, float | int]]
    settings: dict[str, Any] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        """The ``movierec simulate --json`` contract."""
        return {"dataset": self.dataset, "model": self.model, "batches": len(self.batches),
                "policies": {name: dict(self.policies[name]) for name in POLICIES}}


def batch_ndcg(model: BaseRecommender, batch: pd.DataFrame, k: int = 10,
               recent: RecentHistories | None = None) -> float:
    """Mean NDCG@k over the batch's users, the batch's items being the relevant ones (users
    in ``recent`` scored from their whole history, as served)."""
    scores = batch_ndcg_per_user(model, batch, k, recent)
    return float(scores.mean()) if scores.size else float("nan")


def served_histories(ordered: pd.DataFrame, span: pd.Series, until: int, batch_span: int
                     ) -> RecentHistories:
    """What the service scores the batch's users from when its model learnt the spans
    before ``until``: the whole histories of those who rated between then and the batch
    (the monitor's pending ratings, ``recsys.serving.recent``)."""
    return pending_histories(ordered[span < until], ordered[(span >= until) & (span < batch_span)],
                             ordered[span == batch_span])


def fitter(model: str, params: dict[str, Any] | None, items: pd.DataFrame | None,
           *, keep: int = 8) -> Fit:
    """``frame -> fitted model`` for the variant ``model``.

    The model knows the catalogue of its time: the movies rated in ``frame`` (a model of
    2003 cannot recommend a film first rated in 2015, and EASE's cost grows with the cube
    of the catalogue). The last ``keep`` fits are remembered by the frame's content: the
    policies, and the quality baselines, that train on the same ratings share one fit.
    """
    memo: OrderedDict[int, BaseRecommender] = OrderedDict()

    def fit(frame: pd.DataFrame) -> BaseRecommender:
        key = int(pd.util.hash_pandas_object(frame[[USER_ID, ITEM_ID, RATING, TIMESTAMP]],
                                             index=False).sum())
        if key in memo:
            memo.move_to_end(key)
            return memo[key]
        known = None if items is None else items[items[ITEM_ID].isin(frame[ITEM_ID].unique())]
        model_ = create(model, **(params or {})).fit(Interactions.from_frame(frame, known))
        memo[key] = model_
        while len(memo) > keep:
            memo.popitem(last=False)
        return model_

    return fit


@dataclass
class Champion:
    """A policy's current model, what it learnt from, and its trigger baselines."""

    model: BaseRecommender
    data: pd.DataFrame
    calibration: Calibration
    quality: QualityBaseline | None
    #: the first span it has not learnt from
    until: int = 0


def train_champion(fit: Fit, data: pd.DataFrame, genre: pd.Series, config: MonitorConfig,
                   *, with_quality: bool = True, until: int = 0) -> Champion:
    """Fit the model and the trigger's baselines on ``data``."""
    calibration = calibrate(data, genre, span_days=config.span_days,
                            spans=config.calibration_spans, min_rows=config.min_batch_rows)
    quality = (quality_baseline(fit, data, span_days=config.span_days,
                                spans=config.quality_spans, min_rows=config.min_batch_rows)
               if with_quality else None)
    return Champion(fit(data), data, calibration, quality, until)


@dataclass(frozen=True)
class TriggerOutcome:
    """What the trigger says about one batch."""

    drift: bool
    quality: bool
    drifted: list[str]
    #: what a retrain would learn reached ``staleness_spans`` (part of ``drift``)
    stale: bool
    ndcg: float | None
    threshold: float
    staleness: Staleness

    @property
    def labels(self) -> list[str]:
        """The drifted statistics, and ``stale`` when staleness is part of the verdict."""
        return self.drifted + (["stale"] if self.stale else [])


def check(champion: Champion, batch: pd.DataFrame, genre: pd.Series, config: MonitorConfig,
          seed: int = 0, pending: pd.DataFrame | None = None) -> TriggerOutcome:
    """The data-drift and quality verdicts on ``batch`` (small batches never trigger).

    ``drift``: a like-with-like statistic drifted, or the champion is stale by what it has
    not learnt (``staleness``: the unlearnt ratings, including the ``pending`` ones since
    its training data, reach ``staleness_spans``), as ``movierec monitor`` decides;
    ``quality``: its NDCG@10 fell below its expected level, or its users' new histories
    would gain it ``refresh_gap``. The retrain budget is the caller's (it has a history)."""
    scores = score_batch(champion.data, batch, champion.calibration, genre,
                         weights=config.column_weights, z_threshold=config.z_threshold,
                         seed=seed)
    drifted = [name for name, score in scores.items() if score.drifted]
    quality = quality_drop(champion.model, champion.data, batch, champion.quality,
                           z_threshold=config.quality_z, min_rows=config.min_batch_rows,
                           seed=seed, recent=pending_histories(champion.data, pending, batch))
    stale = staleness(champion.model, champion.data,
                      batch.iloc[:0] if pending is None else pending, batch,
                      champion.calibration, max_spans=config.staleness_spans,
                      max_refresh_gap=config.refresh_gap)
    refreshed = stale.refresh_gap is not None and stale.refresh_gap >= config.refresh_gap
    by_rows = stale.spans >= config.staleness_spans
    big = len(batch) >= config.min_batch_rows
    return TriggerOutcome(big and (bool(drifted) or by_rows),
                          big and (quality.dropped or refreshed), drifted, by_rows,
                          quality.ndcg, quality.threshold, stale)


def simulate(
    ratings: pd.DataFrame,
    items: pd.DataFrame | None = None,
    *,
    dataset: str = "",
    model: str = "ease",
    params: dict[str, Any] | None = None,
    initial_spans: int = 8,
    config: MonitorConfig | None = None,
    seed: int = 0,
    k: int = 10,
    progress: Callable[[int, int], None] | None = None,
    fit: Fit | None = None,
) -> SimulationResult:
    """Run the replay; see the module docstring. ``fit`` replaces the default
    ``fitter(model, params, items)`` (to share its remembered fits, or keep fewer)."""
    config = config or MonitorConfig()
    fit = fit or fitter(model, params, items)
    budget = RetrainBudget(config.retrain_budget, config.retrain_burst)
    genre = first_genre(items)
    ordered = ratings.sort_values(TIMESTAMP, kind="stable").reset_index(drop=True)
    span = replay_spans(ordered, config.span_days)
    initial = ordered[span < initial_spans]
    numbers = sorted(s for s in span.unique() if s >= initial_spans)
    never = train_champion(fit, initial, genre, config, with_quality=False,
                           until=initial_spans)
    drift_champion = never
    quality_champion = train_champion(fit, initial, genre, config, until=initial_spans)
    rows = []
    for n, s in enumerate(numbers):
        batch = ordered[span == s]
        seen = ordered[span < s]
        every = never.model if s == initial_spans else fit(seen)
        row: dict[str, Any] = {
            "batch": int(s), "date": datetime.fromtimestamp(int(batch[TIMESTAMP].max()), UTC)
            .date().isoformat(), "rows": len(batch),
            "ndcg_never": batch_ndcg(never.model, batch, k,
                                     served_histories(ordered, span, never.until, s)),
            "ndcg_every_batch": batch_ndcg(every, batch, k),
            "ndcg_on_drift": batch_ndcg(
                drift_champion.model, batch, k,
                served_histories(ordered, span, drift_champion.until, s)),
            "ndcg_on_quality": batch_ndcg(
                quality_champion.model, batch, k,
                served_histories(ordered, span, quality_champion.until, s)),
        }
        on_drift = check(drift_champion, batch, genre, config, seed,
                         ordered[(span >= drift_champion.until) & (span < s)])
        on_quality = check(quality_champion, batch, genre, config, seed,
                           ordered[(span >= quality_champion.until) & (span < s)])
        last = n == len(numbers) - 1
        # staleness waits for the budget, and so does drift with little to learn; drift
        # with enough unlearnt ratings does not (it spends)
        urgent = drift_is_urgent(on_drift.drifted, on_drift.staleness.spans,
                                 config.drift_min_spans)
        held = on_drift.drift and not urgent and not budget.allows()
        row.update(drifted=",".join(on_drift.labels), unlearnt_spans=on_drift.staleness.spans,
                   budget=round(budget.balance, 2), held_by_budget=held,
                   retrain_on_drift=on_drift.drift and not held and not last,
                   champion_ndcg=on_quality.ndcg, quality_threshold=on_quality.threshold,
                   refresh_gap=on_quality.staleness.refresh_gap,
                   retrain_on_quality=on_quality.quality and not last)
        if on_drift.drift and not held:
            budget.spend()
        budget.refill(1.0)
        if row["retrain_on_drift"]:
            drift_champion = train_champion(fit, ordered[span <= s], genre, config,
                                            with_quality=False, until=s + 1)
        if row["retrain_on_quality"]:
            quality_champion = train_champion(fit, ordered[span <= s], genre, config,
                                              until=s + 1)
        rows.append(row)
        if progress:
            progress(n + 1, len(numbers))
    frame = pd.DataFrame(rows)
    policies: dict[str, dict[str, float | int]] = {
        "never": {"mean_ndcg_at_10": _mean(frame, "ndcg_never"), "retrains": 0},
        "every_batch": {"mean_ndcg_at_10": _mean(frame, "ndcg_every_batch"),
                        "retrains": max(len(frame) - 1, 0)},
        "on_drift": {"mean_ndcg_at_10": _mean(frame, "ndcg_on_drift"),
                     "retrains": int(frame["retrain_on_drift"].sum()) if len(frame) else 0},
        "on_quality": {"mean_ndcg_at_10": _mean(frame, "ndcg_on_quality"),
                       "retrains": int(frame["retrain_on_quality"].sum()) if len(frame) else 0},
    }
    return SimulationResult(frame, model, dataset, policies,
                            {"params": params or {}, "config": config.model_dump(),
                             "initial_spans": initial_spans, "seed": seed})


def _mean(frame: pd.DataFrame, column: str) -> float:
    return round(float(frame[column].mean()), 4) if len(frame) else float("nan")


# -- trigger checks ---------------------------------------------------------------------------
def _new_ids(existing: pd.Series, n: int) -> np.ndarray:
    return np.arange(n, dtype=np.int64) + int(existing.max()) + 1


def inject(kind: str, batch: pd.DataFrame, reference: pd.DataFrame, genre: pd.Series,
           rng: np.random.Generator) -> pd.DataFrame:
    """``batch`` with one shift injected.

    ``rating_collapse``: every rating becomes the lowest on the scale; ``genre_shift``: every
    rating goes to a random movie of the genre the recent reference rates least (among
    genres with at least 20 movies); ``new_users``: twice the batch's ratings again, by users
    nobody saw; ``new_items``: half of the ratings go to movies nobody saw.
    """
    out = batch.copy()
    if kind == "rating_collapse":
        out[RATING] = float(reference[RATING].min())
    elif kind == "genre_shift":
        catalogue = genre[genre.index.isin(reference[ITEM_ID].unique())]
        sizes = catalogue.value_counts()
        sizes = sizes[(sizes >= 20) & (sizes.index != "unknown")]
        rated = catalogue.reindex(reference[ITEM_ID].to_numpy()).value_counts()
        target = rated.reindex(sizes.index).fillna(0).idxmin()
        pool = catalogue.index[catalogue == target].to_numpy()
        out[ITEM_ID] = rng.choice(pool, size=len(out))
        out = out.drop_duplicates([USER_ID, ITEM_ID])
    elif kind == "new_users":
        burst = pd.concat([batch, batch], ignore_index=True)
        users = burst[USER_ID].unique()
        mapping = dict(zip(users, _new_ids(reference[USER_ID], len(users)), strict=True))
        burst[USER_ID] = burst[USER_ID].map(mapping)
        burst = burst.drop_duplicates([USER_ID, ITEM_ID])
        out = pd.concat([out, burst], ignore_index=True)
    elif kind == "new_items":
        chosen = rng.random(len(out)) < 0.5
        out.loc[chosen, ITEM_ID] = _new_ids(reference[ITEM_ID], int(chosen.sum()))
    else:
        raise ValueError(f"unknown shift {kind!r}")
    return out.reset_index(drop=True)


SHIFTS = ("rating_collapse", "genre_shift", "new_users", "new_items")


def trigger_checks(
    ratings: pd.DataFrame,
    items: pd.DataFrame | None,
    *,
    fit: Fit,
    initial_spans: int = 8,
    config: MonitorConfig | None = None,
    n_reference: int = 20,
    seed: int = 0,
) -> pd.DataFrame:
    """The trigger on reference-like batches and on injected shifts, one row each.

    Reference-like (``n_reference``, half of each kind): bootstrap resamples of the initial
    period (as many ratings as its median span) against it; and random halves of its last
    span, one half learnt (the reference is the period before that span plus the half),
    the other half the batch. Injected: each of ``SHIFTS`` applied to the first batch after
    the initial period. ``retrain`` is data drift or quality drop.
    """
    config = config or MonitorConfig()
    rng = np.random.default_rng(seed)
    genre = first_genre(items)
    ordered = ratings.sort_values(TIMESTAMP, kind="stable").reset_index(drop=True)
    span = replay_spans(ordered, config.span_days)
    initial = ordered[span < initial_spans]
    champion = train_champion(fit, initial, genre, config)
    rows = []

    def record(kind: str, name: str, who: Champion, batch: pd.DataFrame, n: int) -> None:
        outcome = check(who, batch, genre, config, seed + n)
        rows.append({"kind": kind, "name": name, "rows": len(batch),
                     "drifted": ",".join(outcome.labels) or "-", "drift": outcome.drift,
                     "unlearnt_spans": outcome.staleness.spans,
                     "refresh_gap": outcome.staleness.refresh_gap,
                     "ndcg": outcome.ndcg, "threshold": outcome.threshold,
                     "quality_drop": outcome.quality,
                     "retrain": outcome.drift or outcome.quality})

    sizes = span_index(initial, config.span_days).value_counts()
    size = int(sizes[sizes >= config.min_batch_rows].median())
    n_boot = n_reference // 2
    for n in range(n_boot):
        sample = initial.iloc[rng.integers(0, len(initial), size)]
        record("reference-like", f"bootstrap {n + 1}", champion, sample, n)
    last_index = span_index(initial, config.span_days)
    last, before = initial[last_index == 0], initial[last_index > 0]
    for n in range(n_reference - n_boot):
        half = rng.random(len(last)) < 0.5
        learnt = pd.concat([before, last[half]], ignore_index=True)
        who = train_champion(fit, learnt, genre, config)
        record("reference-like", f"half-span {n + 1}", who, last[~half], n_boot + n)
    first = ordered[span == initial_spans]
    for n, kind in enumerate(SHIFTS):
        record("injected", kind, champion, inject(kind, first, initial, genre, rng),
               n_reference + n)
    return pd.DataFrame(rows)
