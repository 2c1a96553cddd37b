"""Drift decisions with real Evidently reports on ML-100K batches."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from recsys.monitoring.drift import MonitorConfig, decide
from recsys.monitoring.features import (
    batch_stats,
    comparable_served_lists,
    rating_features,
    serving_reference,
)
from recsys.monitoring.served_log import read_inference_log
from recsys.monitoring.state import record_retrain

pytestmark = pytest.mark.integration

NOW = datetime(1998, 3, 1, tzinfo=UTC)


@pytest.fixture(scope="module")
def reference(ml100k: tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]) -> pd.DataFrame:
    ratings = ml100k[0].sort_values("timestamp")
    return ratings.iloc[: int(len(ratings) * 0.7)].reset_index(drop=True)


@pytest.fixture(scope="module")
def items(ml100k: tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]) -> pd.DataFrame:
    return ml100k[1]


def _decide(reference: pd.DataFrame, batch: pd.DataFrame, items: pd.DataFrame, tmp: Path,
            **kw: object) -> dict:
    decision = decide(reference, batch, items=items, report_dir=tmp / "drift",
                      state_path=tmp / "state.json", workspace=None, now=NOW, **kw)  # type: ignore[arg-type]
    return decision.as_json()


@pytest.mark.parametrize(("size", "seed"), [(500, 0), (3000, 1), (3000, 2)])
def test_batch_from_the_reference_distribution_does_not_retrain(
    reference: pd.DataFrame, items: pd.DataFrame, tmp_path: Path, size: int, seed: int
) -> None:
    batch = reference.sample(size, random_state=seed)
    out = _decide(reference, batch, items, tmp_path)
    assert out["drift_detected"] is False, out
    assert out["retrain"] is False
    assert out["drift_share"] < 0.3


def test_rating_shift_triggers_retraining(reference: pd.DataFrame, items: pd.DataFrame,
                                          tmp_path: Path) -> None:
    batch = reference.sample(3000, random_state=3).copy()
    batch["rating"] = np.clip(batch["rating"] - 2, 1, 5)
    out = _decide(reference, batch, items, tmp_path)
    assert out["retrain"] is True
    assert "rating" in out["drifted_columns"]
    assert Path(out["report"]).is_file() and Path(out["summary"]).is_file()
    summary = json.loads(Path(out["summary"]).read_text())
    assert summary["batch"]["mean_rating"] < summary["batch"]["reference_mean_rating"] - 1


def test_genre_shift_triggers_retraining(reference: pd.DataFrame, items: pd.DataFrame,
                                         tmp_path: Path) -> None:
    genres = items.set_index("item_id")["genres"]
    horror = reference[reference["item_id"].map(genres).str.startswith(("Horror", "Sci-Fi"))]
    batch = horror.sample(3000, replace=True, random_state=4)
    out = _decide(reference, batch, items, tmp_path)
    assert out["retrain"] is True
    assert "genre" in out["drifted_columns"]


def test_burst_of_new_users_triggers_retraining(reference: pd.DataFrame, items: pd.DataFrame,
                                                tmp_path: Path) -> None:
    batch = reference.sample(3000, random_state=5).copy()
    batch["user_id"] += 10_000
    out = _decide(reference, batch, items, tmp_path)
    assert out["retrain"] is True
    assert "new_user" in out["drifted_columns"]
    assert batch_stats(reference, batch)["new_user_share"] == 1.0


def test_cooldown_blocks_a_second_retrain(reference: pd.DataFrame, items: pd.DataFrame,
                                          tmp_path: Path) -> None:
    batch = reference.sample(2000, random_state=6).copy()
    batch["rating"] = 1.0
    record_retrain(tmp_path / "state.json", NOW - timedelta(hours=2))
    out = _decide(reference, batch, items, tmp_path, config=MonitorConfig(cooldown_hours=24))
    assert out["drift_detected"] is True
    assert out["retrain"] is False
    assert "cooldown" in out["reason"]
    record_retrain(tmp_path / "state.json", NOW - timedelta(hours=30))
    assert _decide(reference, batch, items, tmp_path)["retrain"] is True


def test_empty_batch(reference: pd.DataFrame, items: pd.DataFrame, tmp_path: Path) -> None:
    out = _decide(reference, reference.iloc[:0], items, tmp_path)
    assert (out["drift_detected"], out["retrain"], out["report"]) == (False, False, None)
    assert "empty" in out["reason"]
    log = (tmp_path / "drift" / "decisions.jsonl").read_text().splitlines()
    assert json.loads(log[-1])["reason"] == out["reason"]


def test_features_are_size_free(reference: pd.DataFrame, items: pd.DataFrame) -> None:
    ref_f, cur_f = rating_features(reference, reference.sample(800, random_state=0), items)
    assert len(ref_f) == len(reference) and len(cur_f) == 800
    assert set(ref_f["new_user"]) == {"no"}
    assert abs(ref_f["user_activity"].mean() - cur_f["user_activity"].mean()) < 0.2


@pytest.mark.parametrize("n_served", [200, 50])
def test_prediction_drift_from_the_inference_log(
    reference: pd.DataFrame, items: pd.DataFrame, tmp_path: Path, n_served: int
) -> None:
    """Drifted served traffic triggers a retrain, unless there are fewer lists than
    ``min_served_lists`` (200): then the drift is reported but not acted on."""
    popular = reference["item_id"].value_counts().index.to_numpy()
    rng = np.random.default_rng(0)
    ref_log = pd.DataFrame({
        "items": [list(rng.choice(popular[:100], 10, replace=False)) for _ in range(300)],
        "scores": [list(np.sort(rng.uniform(0.5, 1, 10))[::-1]) for _ in range(300)],
        "cold_start": [False] * 300,
    })
    log_path = tmp_path / "log.jsonl"
    with log_path.open("w") as fh:
        for _ in range(n_served):  # served traffic drifted to the long tail, all cold start
            fh.write(json.dumps({"ts": NOW.isoformat(), "endpoint": "recommend",
                                 "items": [int(x) for x in rng.choice(popular[-400:], 10, replace=False)],
                                 "scores": [0.1] * 10, "cold_start": True}) + "\n")
    served = read_inference_log(log_path)
    batch = reference.sample(1000, random_state=7)
    out = _decide(reference, batch, items, tmp_path, serving_reference=ref_log,
                  serving_current=served)
    assert out["prediction_drift"]["cold_start_share"] == 1.0
    assert out["prediction_drift"]["mean_item_popularity"] >= 0.1
    # the served window's recommendation quality, beside the reference lists'
    quality = out["recommendation_quality"]
    assert quality["served_lists"] == n_served and quality["reference_lists"] == 300
    assert quality["served_avg_rec_popularity"] < quality["reference_avg_rec_popularity"]
    assert quality["served_novelty"] > quality["reference_novelty"]
    # and Evidently's own recsys metrics of the served window
    assert out["recsys_metrics"]["novelty"] > 0
    assert out["recsys_metrics"]["avg_rec_popularity"] > 0
    if n_served >= 200:
        assert out["retrain"] is True
        assert "prediction drift" in out["reason"]
    else:
        assert out["retrain"] is False and out["drift_detected"] is False
        assert f"only {n_served} served lists (min_served_lists 200)" in out["reason"]


def test_workspace_receives_the_runs(reference: pd.DataFrame, items: pd.DataFrame,
                                     tmp_path: Path) -> None:
    from evidently.ui.workspace import Workspace

    decide(reference, reference.sample(500, random_state=8), items=items,
           report_dir=tmp_path / "drift", state_path=tmp_path / "s.json",
           workspace=tmp_path / "ws", now=NOW)
    ws = Workspace(str(tmp_path / "ws"))
    projects = [p for p in ws.list_projects() if p.name == "movierec drift"]
    assert len(projects) == 1
    assert len(list(ws.list_runs(projects[0].id))) == 1


def _served(rng: np.random.Generator, pool: np.ndarray, n: int) -> list[dict]:
    """``n`` /recommend answers drawn like the synthetic reference below."""
    return [{"ts": NOW.isoformat(), "endpoint": "recommend", "status": 200,
             "request": {"user_id": 1, "k": 10, "exclude_seen": True, "platforms": None},
             "items": [int(x) for x in rng.choice(pool, 10, replace=False)],
             "scores": [float(x) for x in np.sort(rng.uniform(0, 1, 10))[::-1] * rng.uniform(1, 3)],
             "cold_start": False} for _ in range(n)]


def test_endpoint_mix_alone_is_not_prediction_drift(
    reference: pd.DataFrame, items: pd.DataFrame, tmp_path: Path
) -> None:
    popular = reference["item_id"].value_counts().index.to_numpy()
    rng = np.random.default_rng(1)
    ref_log = pd.DataFrame(_served(rng, popular[:100], 3000))
    records = _served(rng, popular[:100], 3000)
    long_tail = [int(x) for x in rng.choice(popular[-400:], 10, replace=False)]
    for n in range(1000):  # the same recommendations, amid traffic the reference does not model
        records.append({"ts": NOW.isoformat(), "endpoint": "predict_rating", "status": 200,
                        "items": [int(popular[n])], "scores": [4.2], "cold_start": False})
        records.append({"ts": NOW.isoformat(), "endpoint": "similar_items", "status": 200,
                        "items": long_tail, "scores": [0.3] * 10, "cold_start": None})
        records.append({"ts": NOW.isoformat(), "endpoint": "recommend_new_user", "status": 200,
                        "items": long_tail, "scores": [12.0] * 10, "cold_start": True})
        records.append({"ts": NOW.isoformat(), "endpoint": "recommend", "status": 200,
                        "request": {"user_id": 2, "k": 10, "platforms": ["netflix"]},
                        "items": long_tail, "scores": [0.1] * 10, "cold_start": False})
    log_path = tmp_path / "log.jsonl"
    log_path.write_text("".join(json.dumps(r) + "\n" for r in records))
    served = read_inference_log(log_path)
    assert len(comparable_served_lists(served)) == 3000
    out = _decide(reference, reference.sample(1000, random_state=9), items, tmp_path,
                  serving_reference=ref_log, serving_current=served)
    drift = out["prediction_drift"]
    assert drift["cold_start_share"] == 0.0
    assert max(drift[c] for c in ("top_score", "mean_item_popularity", "genre_diversity")) < 0.1
    assert out["retrain"] is False and "no prediction drift" in out["reason"]


def test_serving_reference_matches_the_served_lists(reference: pd.DataFrame) -> None:
    from recsys.data.interactions import Interactions
    from recsys.models import create

    model = create("popularity").fit(Interactions.from_frame(reference))
    rows = serving_reference(model, reference, list_lengths=[3, 5], n_users=50)
    assert len(rows) == 50 and not rows["cold_start"].any()
    assert set(rows["items"].map(len)) <= {3, 5} and len(set(rows["items"].map(len))) == 2
    assert all(s == sorted(s, reverse=True) for s in rows["scores"])
    assert set(serving_reference(model, reference, n_users=20)["items"].map(len)) == {10}


def test_recommendation_quality_metrics_reach_the_workspace_and_the_reports(
        reference: pd.DataFrame, items: pd.DataFrame, tmp_path: Path) -> None:
    """Evidently's recsys metrics (popularity bias, coverage, Gini, novelty,
    personalisation, genre diversity) of the champion's lists for the batch's users are in
    the decision, in an HTML report beside the drift report, and in the workspace."""
    from evidently.ui.workspace import Workspace

    from recsys.data.interactions import Interactions
    from recsys.models import create
    from recsys.monitoring.recsys_report import METRIC_KEYS

    champion = create("item_knn").fit(Interactions.from_frame(reference, items))
    batch = reference.sample(800, random_state=9)
    decision = decide(reference, batch, items=items, report_dir=tmp_path / "drift",
                      state_path=tmp_path / "s.json", workspace=tmp_path / "ws", now=NOW,
                      name="check", champion=champion).as_json()
    values = decision["recsys_metrics"]
    assert set(values) == set(METRIC_KEYS.values())
    assert 0 < values["coverage"] < 1 and 0 <= values["gini_exposure"] <= 1
    assert values["novelty"] > 0 and 0 < values["personalisation"] <= 1
    # diversity is its own report: it is sized by the listed movies, not the catalogue
    html = "".join((tmp_path / "drift" / f"check-recsys{part}.html").read_text()
                   for part in ("", "-diversity"))
    for name in ("Popularity", "gini", "coverage", "Novelty", "Personalization", "Diversity"):
        assert name in html, name
    ws = Workspace(str(tmp_path / "ws"))
    project = next(p for p in ws.list_projects() if p.name == "movierec drift")
    stored = json.dumps([ws.get_run(project.id, run).dict()  # type: ignore[union-attr]
                         for run in ws.list_runs(project.id)], default=str)
    for kind in ("PopularityBiasMetric", "Novelty", "Personalization", "Diversity"):
        assert kind in stored, kind


@pytest.fixture(scope="module")
def later_weeks(reference: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """(the first 50,000 ratings, the fourth week after them, the three weeks before it)."""
    ratings = reference.sort_values("timestamp")
    base, later = ratings.iloc[:50_000], ratings.iloc[50_000:]
    week = (later["timestamp"] - later["timestamp"].min()) // (7 * 24 * 3600)
    return base, later[week == 3], later[week < 3]


#: staleness decides alone
STALENESS_ONLY = MonitorConfig(column_weights={"new_user": 0.0, "new_item": 0.0, "rating": 0.0,
                                               "genre": 0.0})


def test_pending_batches_make_the_champion_stale(later_weeks: tuple[pd.DataFrame, ...],
                                                 items: pd.DataFrame, tmp_path: Path) -> None:
    """Later weeks of ML-100K, each too small to retrain for, pile up as pending until
    what a retrain would learn passes ``staleness_spans``."""
    base, batch, pending = later_weeks
    config = STALENESS_ONLY
    alone = _decide(base, batch, items, tmp_path / "a", config=config)
    piled = _decide(base, batch, items, tmp_path / "b", config=config, pending=pending)
    assert alone["staleness"]["refresh_gap"] is None  # no champion: rows only
    assert piled["staleness"]["unlearnt_rows"] > alone["staleness"]["unlearnt_rows"]
    assert alone["retrain"] is False and alone["staleness"]["spans"] < 1.5
    assert piled["retrain"] is True and piled["staleness"]["spans"] >= 1.5
    assert "stale: " in piled["reason"]


def test_a_stale_batch_waits_for_the_retrain_budget(later_weeks: tuple[pd.DataFrame, ...],
                                                    items: pd.DataFrame, tmp_path: Path) -> None:
    """Staleness alone retrains only with a retrain banked: two days after a retrain the
    budget (0.5 per 7-day span, 1.5 at most) holds 0.64 and the batch waits; nine days
    after, it holds 1.14 and the same batch retrains."""
    base, batch, pending = later_weeks
    config = STALENESS_ONLY
    record_retrain(tmp_path / "a" / "state.json", NOW - timedelta(days=2), config=config)
    held = _decide(base, batch, items, tmp_path / "a", config=config, pending=pending)
    assert held["drift_detected"] is True and held["retrain"] is False
    assert "retrain budget: 0.64 of 1" in held["reason"]
    record_retrain(tmp_path / "b" / "state.json", NOW - timedelta(days=9), config=config)
    assert _decide(base, batch, items, tmp_path / "b", config=config,
                   pending=pending)["retrain"] is True


def test_the_quality_baseline_refits_only_for_a_batch_that_can_be_scored(
        reference: pd.DataFrame, items: pd.DataFrame,
        ml100k: tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame], tmp_path: Path) -> None:
    """The baseline costs one refit of the champion (19 min at 25M ratings); a batch of
    pairs the champion has all seen cannot be scored, so it must not pay for one."""
    from recsys.data.interactions import Interactions
    from recsys.models import create

    fits: list[int] = []

    def refit(frame: pd.DataFrame) -> object:
        fits.append(len(frame))
        return create("popularity").fit(Interactions.from_frame(frame, items))

    champion = create("popularity").fit(Interactions.from_frame(reference, items))
    seen = reference.sample(800, random_state=3)  # every pair already in the reference
    out = _decide(reference, seen, items, tmp_path / "seen", champion=champion, refit=refit)
    assert fits == []
    assert "new (user, item) pairs: quality not measured" in json.dumps(out)
    later = ml100k[0].sort_values("timestamp").iloc[int(len(ml100k[0]) * 0.7):][:3000]
    _decide(reference, later, items, tmp_path / "new", champion=champion, refit=refit)
    assert len(fits) == 1


def test_the_evidently_report_reads_a_bounded_sample_of_the_reference(
    reference: pd.DataFrame, items: pd.DataFrame, tmp_path: Path
) -> None:
    """Evidently's column drift over a 5,000-row sample of the 70,000-row reference agrees
    with the whole reference within 5% (the like-with-like trigger reads every row)."""
    batch = reference.sample(3000, random_state=4).copy()
    batch["rating"] = np.clip(batch["rating"] - 2, 1, 5)
    whole = _decide(reference, batch, items, tmp_path / "whole")
    sampled = _decide(reference, batch, items, tmp_path / "sampled",
                      config=MonitorConfig(report_reference_rows=5_000))
    summary = json.loads(Path(sampled["summary"]).read_text())
    assert sampled["retrain"] is whole["retrain"]
    assert sampled["drifted_columns"] == whole["drifted_columns"]
    assert summary["column_scores"].keys() == whole["column_scores"].keys()
    for column, score in whole["column_scores"].items():
        assert abs(sampled["column_scores"][column] - score) <= 0.05 * score + 0.01, column
    # the sample was used: some distance moved
    assert sampled["column_scores"] != whole["column_scores"]


def test_drift_with_little_to_learn_waits_for_the_retrain_budget(
        reference: pd.DataFrame, items: pd.DataFrame, tmp_path: Path) -> None:
    """Two days after a retrain (0.64 of 1 retrain banked), a rating shift among users and
    movies the champion knows (nothing to learn) waits for the budget; a burst of new users
    (two reference spans to learn) does not, and spends below zero."""
    config = MonitorConfig()
    shifted = reference.sample(3000, random_state=3).copy()
    shifted["rating"] = np.clip(shifted["rating"] - 2, 1, 5)
    newcomers = reference.sample(3000, random_state=5).copy()
    newcomers["user_id"] += 10_000
    for name in ("shifted", "newcomers"):
        record_retrain(tmp_path / name / "state.json", NOW - timedelta(days=2), config=config)
    held = _decide(reference, shifted, items, tmp_path / "shifted", config=config)
    assert "rating" in held["drifted_columns"] and held["drift_detected"] is True
    assert held["staleness"]["spans"] < config.drift_min_spans
    assert held["retrain"] is False
    assert "retrain budget: 0.64 of 1" in held["reason"]
    assert "under drift_min_spans 1" in held["reason"]
    urgent = _decide(reference, newcomers, items, tmp_path / "newcomers", config=config)
    assert "new_user" in urgent["drifted_columns"]
    assert urgent["staleness"]["spans"] >= config.drift_min_spans
    assert urgent["retrain"] is True
