"""Evidently drift reports and the retraining decision (with a cooldown).

``decide`` compares a batch of new ratings (and, when given, served traffic) with the
training snapshot, saves an HTML report and a JSON summary under ``reports/drift/``, adds
the run to an Evidently workspace (browse with ``evidently ui --workspace
.movierec/evidently``), appends the decision to ``reports/drift/decisions.jsonl`` and says
whether to retrain. Thresholds come from the ``monitor:`` section of ``params.yaml``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd
from pydantic import BaseModel, ConfigDict, Field

from recsys.data.schema import TIMESTAMP, USER_ID
from recsys.evaluation.beyond_accuracy import served_lists_quality
from recsys.monitoring.budget import drift_is_urgent
from recsys.monitoring.evidently_drift import add_to_workspace, column_drift
from recsys.monitoring.features import (
    RATING_CATEGORICAL,
    RATING_NUMERIC,
    SERVING_CATEGORICAL,
    SERVING_NUMERIC,
    batch_stats,
    comparable_served_lists,
    first_genre,
    rating_features,
    serving_features,
)
from recsys.monitoring.recsys_report import (
    RecsysReport,
    champion_lists,
    lists_frame,
    recsys_report,
)
from recsys.monitoring.staleness import staleness
from recsys.monitoring.state import DEFAULT_STATE, budget_now, cooldown_remaining
from recsys.monitoring.trigger import (
    QualityBaseline,
    calibrate,
    quality_baseline,
    quality_drop,
    score_batch,
)
from recsys.serving.recent import pending_histories

DEFAULT_REPORT_DIR = Path("reports/drift")
DEFAULT_WORKSPACE = Path(".movierec/evidently")


class MonitorConfig(BaseModel):
    """Thresholds of the ``monitor:`` section of ``params.yaml``.

    Attributes:
        drift_share_threshold: retrain when at least this share of monitored rating columns
            drifted.
        prediction_drift_threshold: retrain when any served-traffic column's drift score
            (Wasserstein / Jensen-Shannon distance) reaches this value.
        cooldown_hours: no second retrain within this many hours of the last one.
        min_batch_rows: a smaller batch is reported but never triggers retraining.
        min_served_lists: with fewer comparable served lists, prediction drift is reported
            but not acted on (the drift distances of small samples are mostly noise: two
            samples of 1,000 lists from one distribution differ by 0.04-0.08).
        critical_columns: columns of the Evidently report whose drift is listed among the
            reasons (the report compares the batch with the whole training snapshot, so it
            describes; the like-with-like statistics below decide).
        span_days: the span of one batch; the reference's spans of this length are what an
            ordinary batch looks like (``recsys.monitoring.trigger``).
        calibration_spans: how many of the reference's last spans give the null
            distribution of each statistic.
        z_threshold: a statistic drifts when ``weight * robust z`` passes this (3.5 is the
            Iglewicz-Hoaglin outlier rule).
        column_weights: how much a shift of each statistic (``new_user``, ``new_item``,
            ``rating``, ``genre``) costs the champion; 0 reports it without acting.
        quality_spans: the reference's last spans that give the champion's expected NDCG@10
            (a model of its kind trained without them, scored on them).
        quality_z: retrain when the champion's NDCG@10 on a batch (paired against the
            batch's trend) falls more than this many spreads below the expected level. 1.0
            (one-sided 84 %): a missed week of a stale champion costs more than a retrain,
            and reference-like batches stay well inside it (benchmarks/results/
            drift-simulation.md).
        staleness_spans: retrain when the ratings since the champion's training data by
            users or of movies it never saw reach this many reference spans of ratings
            (``recsys.monitoring.trigger.staleness``): what a retrain would learn.
        refresh_gap: retrain when bringing the batch users' histories up to date would
            gain the champion at least this much NDCG@10 on the batch.
        retrain_budget: staleness retrains per span on average (``recsys.monitoring.
            budget``: a token bucket); quality retrains and drift with enough to learn
            (``drift_min_spans``) are not held back but spend from it. 0.5: at most one
            retrain per two spans on staleness.
        retrain_burst: the most retrains the budget banks (quiet spans save retrains a
            burst of new users or movies spends on successive batches).
        drift_min_spans: like-with-like drift retrains without waiting for the budget
            only when the champion has at least this many reference spans of ratings it
            never learnt; with less (a drifted rating mix of known users, say) it waits
            for a banked retrain like staleness. 1.0: one ordinary batch's worth.
        report_reference_rows: the Evidently reports compare the batch with a seeded
            sample of at most this many reference rows: their distances move in the third
            decimal from a million rows on, while every row of a 25M-rating snapshot cost
            about 8 minutes. The like-with-like statistics that decide read every row.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    drift_share_threshold: float = Field(0.3, gt=0, le=1)
    prediction_drift_threshold: float = Field(0.1, gt=0)
    cooldown_hours: float = Field(24.0, ge=0)
    min_batch_rows: int = Field(100, ge=1)
    min_served_lists: int = Field(200, ge=1)
    critical_columns: tuple[str, ...] = ("rating", "genre", "new_user", "new_item")
    span_days: float = Field(7.0, gt=0)
    calibration_spans: int = Field(8, ge=2)
    z_threshold: float = Field(3.5, gt=0)
    column_weights: dict[str, float] = Field(
        default_factory=lambda: {"new_user": 1.0, "new_item": 1.0, "rating": 1.0, "genre": 1.0})
    quality_spans: int = Field(4, ge=2)
    quality_z: float = Field(1.0, gt=0)
    staleness_spans: float = Field(1.3, gt=0)
    refresh_gap: float = Field(0.01, gt=0)
    retrain_budget: float = Field(0.5, gt=0, le=1)
    retrain_burst: float = Field(1.5, ge=1)
    drift_min_spans: float = Field(1.0, ge=0)
    report_reference_rows: int = Field(1_000_000, ge=1_000)

    @classmethod
    def from_params(cls, path: str | Path, **overrides: Any) -> MonitorConfig:
        """The ``monitor:`` section of the parameter file ``path`` (defaults where absent),
        with the ``overrides`` that are not ``None``; an unknown key is an error."""
        # on use: the strict params tree (recsys.params) composes this config class
        from recsys.params import section

        values = dict(section("monitor", path))
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)


@dataclass
class DriftDecision:
    """What monitoring found and decided (printed as one JSON line by ``movierec monitor``)."""

    drift_detected: bool
    retrain: bool
    drift_share: float
    drifted_columns: list[str]
    report: str | None
    reason: str
    batch_rows: int
    column_scores: dict[str, float] = field(default_factory=dict)
    prediction_drift: dict[str, float] | None = None
    summary: str | None = None
    checked_at: str = ""
    statistics: dict[str, dict[str, Any]] = field(default_factory=dict)
    quality: dict[str, Any] | None = None
    quality_drop: bool = False
    evidently_drifted_columns: list[str] = field(default_factory=list)
    recommendation_quality: dict[str, float] | None = None
    recsys_metrics: dict[str, float] | None = None
    staleness: dict[str, Any] | None = None

    def as_json(self) -> dict[str, Any]:
        """The decision with its five contract keys first."""
        data = asdict(self)
        head = ["drift_detected", "retrain", "drift_share", "drifted_columns", "report"]
        return {**{k: data[k] for k in head}, **{k: v for k, v in data.items() if k not in head}}


def decide(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    *,
    items: pd.DataFrame | None = None,
    serving_reference: pd.DataFrame | None = None,
    serving_current: pd.DataFrame | None = None,
    config: MonitorConfig | None = None,
    report_dir: Path = DEFAULT_REPORT_DIR,
    state_path: Path = DEFAULT_STATE,
    workspace: Path | None = DEFAULT_WORKSPACE,
    now: datetime | None = None,
    name: str | None = None,
    html: bool = True,
    champion: Any | None = None,
    refit: Callable[[pd.DataFrame], Any] | None = None,
    pending: pd.DataFrame | None = None,
) -> DriftDecision:
    """Compare ``current`` ratings (and served traffic) with ``reference`` and decide.

    Args:
        reference: the training snapshot's ratings.
        current: the new batch of ratings (already validated).
        items: the items table, for the genre mix.
        serving_reference: inference-log-shaped rows of the model on reference users
            (``recsys.monitoring.features.serving_reference``).
        serving_current: the inference-log rows served since the last check; only the
            lists the reference models are compared
            (``recsys.monitoring.features.comparable_served_lists``).
        config: thresholds.
        report_dir: where the HTML report, JSON summary and decision log go.
        state_path: cooldown state.
        workspace: Evidently workspace folder (``None`` to skip).
        now: the decision time (tests and simulations set it).
        name: file stem of the report (default: a timestamp).
        html: write the HTML reports (the JSON summary is always written).
        champion: the model being served, fitted on ``reference``: its NDCG@10 on the
            batch is the quality signal (``None``: no quality check).
        refit: ``ratings -> model of the champion's kind`` for the expected quality level
            (``recsys.monitoring.trigger.quality_baseline``; one extra fit).
        pending: ratings received since ``reference`` that no retrain has taken in (earlier
            batches): with the batch, what a retrain would learn
            (``recsys.monitoring.staleness``).

    The Evidently reports compare the batch with the whole snapshot and are kept for
    reading; the decision comes from ``recsys.monitoring.trigger``: the like-with-like
    statistics weighted by ``column_weights``, the champion's quality, and served traffic.
    """
    config = config or MonitorConfig()
    now = now or datetime.now(UTC)
    stamp = name or now.strftime("%Y%m%dT%H%M%SZ")
    report_dir.mkdir(parents=True, exist_ok=True)
    if len(current) == 0:
        decision = DriftDecision(False, False, 0.0, [], None, "empty batch: nothing to compare",
                                 0, checked_at=now.isoformat())
        _log_decision(report_dir, decision)
        return decision

    ref_feats, cur_feats = rating_features(reference, current, items)
    if len(ref_feats) > config.report_reference_rows:
        ref_feats = ref_feats.sample(n=config.report_reference_rows, random_state=0)
    data = column_drift(ref_feats, cur_feats, RATING_NUMERIC, RATING_CATEGORICAL,
                        config.drift_share_threshold)
    snapshots = [data.snapshot]
    prediction: dict[str, float] | None = None
    recommendation_quality: dict[str, float] | None = None
    served_lists = 0
    served_lists_frame: pd.DataFrame | None = None
    reference_lists_frame: pd.DataFrame | None = None
    if serving_reference is not None and serving_current is not None and len(serving_current):
        srv_ref = serving_features(serving_reference, reference, items)
        srv_cur = serving_features(comparable_served_lists(serving_current), reference, items)
        served_lists = len(srv_cur)
        if len(srv_ref) and len(srv_cur):
            served = column_drift(srv_ref, srv_cur, SERVING_NUMERIC, SERVING_CATEGORICAL,
                                      config.drift_share_threshold)
            snapshots.append(served.snapshot)
            prediction = dict(served.scores)
            served_rows = comparable_served_lists(serving_current)
            lists = served_rows["items"].tolist()
            served_lists_frame = lists_frame(
                lists, served_rows[USER_ID].tolist() if USER_ID in served_rows else None,
                relevant=current)
            reference_lists_frame = lists_frame(
                serving_reference["items"].tolist(),
                serving_reference[USER_ID].tolist() if USER_ID in serving_reference else None)
            recommendation_quality = {
                **{f"served_{k}": v for k, v in
                   served_lists_quality(lists, reference, items).items()},
                **{f"reference_{k}": v for k, v in served_lists_quality(
                    serving_reference["items"].tolist(), reference, items).items()},
            }
            prediction["cold_start_share"] = float((srv_cur["cold_start"] == "yes").mean())
            if html:
                served.snapshot.save_html(str(report_dir / f"{stamp}-serving.html"))

    recsys = _recsys_report(reference, current, items, champion,
                            served_lists=served_lists_frame, reference_lists=reference_lists_frame)
    if recsys is not None:
        snapshots.extend(recsys.snapshots)
        if html:
            recsys.snapshot.save_html(str(report_dir / f"{stamp}-recsys.html"))
            if recsys.diversity is not None:
                recsys.diversity.save_html(str(report_dir / f"{stamp}-recsys-diversity.html"))
    html_path = report_dir / f"{stamp}.html"
    if html:
        data.snapshot.save_html(str(html_path))
    prediction_drift = bool(prediction) and served_lists >= config.min_served_lists and any(
        v >= config.prediction_drift_threshold
        for k, v in (prediction or {}).items() if k in SERVING_NUMERIC
    )
    genre = first_genre(items)
    calibration = calibrate(reference, genre, span_days=config.span_days,
                            spans=config.calibration_spans, min_rows=config.min_batch_rows)
    scores = score_batch(reference, current, calibration, genre, weights=config.column_weights,
                         z_threshold=config.z_threshold)
    drifted = [c for c, score in scores.items() if score.drifted]
    quality = None
    if champion is not None:
        # the baseline costs a refit of the champion (about 10 min at 25M ratings), so it is
        # fitted only for a batch with enough new (user, item) pairs to be scored at all
        def baseline() -> QualityBaseline | None:
            return (quality_baseline(refit, reference, span_days=config.span_days,
                                     spans=config.quality_spans, min_rows=config.min_batch_rows)
                    if refit is not None else None)

        quality = quality_drop(champion, reference, current, baseline,
                               z_threshold=config.quality_z, min_rows=config.min_batch_rows,
                               recent=pending_histories(reference, pending, current))
    stale = staleness(champion, reference, current.iloc[:0] if pending is None else pending,
                      current, calibration, max_spans=config.staleness_spans,
                      max_refresh_gap=config.refresh_gap)
    refreshed = stale.refresh_gap is not None and stale.refresh_gap >= config.refresh_gap
    quality_dropped = (quality is not None and quality.dropped) or refreshed
    drift = bool(drifted) or prediction_drift or stale.spans >= config.staleness_spans
    reasons = [f"like-with-like drift in {', '.join(drifted)}" if drifted else
               f"no like-with-like drift ({len(calibration.spans)} reference spans of "
               f"{config.span_days:g} days)",
               ("stale: " if stale.stale else "not stale: ") + stale.reason]
    critical = [c for c in data.drifted if c in config.critical_columns]
    if critical:
        reasons.append(f"Evidently (batch against the whole snapshot) flags: "
                       f"{', '.join(critical)}")
    if quality is not None:
        reasons.append(quality.reason)
    if prediction is not None and served_lists < config.min_served_lists:
        reasons.append(f"only {served_lists} served lists (min_served_lists "
                       f"{config.min_served_lists}): prediction drift not acted on")
    elif prediction is not None:
        reasons.append("prediction drift" if prediction_drift else "no prediction drift")
    retrain = drift or quality_dropped
    budget = budget_now(config, state_path, now, trained_until=datetime.fromtimestamp(
        int(reference[TIMESTAMP].max()), UTC) if len(reference) else None)
    urgent = drift_is_urgent(drifted, stale.spans, config.drift_min_spans)
    if retrain and not (urgent or prediction_drift or quality_dropped) and not budget.allows():
        retrain = False
        waits = (f"; the drift has {stale.spans:.2f} reference spans to learn, under "
                 f"drift_min_spans {config.drift_min_spans:g}" if drifted else "")
        reasons.append(f"retrain budget: {budget.balance:.2f} of 1 retrain banked (refills "
                       f"{config.retrain_budget:g} per {config.span_days:g}-day span){waits}")
    if retrain and len(current) < config.min_batch_rows:
        retrain = False
        reasons.append(f"batch of {len(current)} rows is below min_batch_rows")
    left = cooldown_remaining(config, state_path, now)
    if retrain and left is not None:
        retrain = False
        reasons.append(f"cooldown: {left.total_seconds() / 3600:.1f} h left")
    decision = DriftDecision(
        drift_detected=drift,
        retrain=retrain,
        drift_share=round(data.share, 4),
        drifted_columns=drifted,
        report=str(html_path) if html else None,
        reason="; ".join(reasons),
        batch_rows=len(current),
        column_scores={k: round(v, 4) for k, v in data.scores.items()},
        prediction_drift=prediction,
        summary=str(report_dir / f"{stamp}.json"),
        checked_at=now.isoformat(),
        statistics={c: asdict(score) for c, score in scores.items()},
        quality=asdict(quality) if quality is not None else None,
        quality_drop=quality_dropped,
        evidently_drifted_columns=data.drifted,
        recommendation_quality=recommendation_quality,
        recsys_metrics=None if recsys is None else recsys.values,
        staleness=asdict(stale),
    )
    Path(decision.summary or "").write_text(
        json.dumps({**decision.as_json(), "batch": batch_stats(reference, current)},
                   indent=2, default=float)
    )
    _log_decision(report_dir, decision)
    if workspace is not None:
        add_to_workspace(workspace, snapshots)
    return decision


def _recsys_report(reference: pd.DataFrame, current: pd.DataFrame, items: pd.DataFrame | None,
                   champion: Any | None, *, served_lists: pd.DataFrame | None,
                   reference_lists: pd.DataFrame | None) -> RecsysReport | None:
    """Evidently's recommendation-quality report: of the served window against the
    champion's lists for reference users when there is served traffic, else of the
    champion's lists for the batch's users; ``None`` with neither."""
    if served_lists is not None and len(served_lists):
        return recsys_report(served_lists, reference, reference=reference_lists, items=items)
    if champion is None:
        return None
    return recsys_report(champion_lists(champion, current), reference, items=items)


def _log_decision(report_dir: Path, decision: DriftDecision) -> None:
    with (report_dir / "decisions.jsonl").open("a") as fh:
        fh.write(json.dumps(decision.as_json(), default=float) + "\n")
