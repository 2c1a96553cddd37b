"""Evidently's recommendation-quality metrics on a set of top-k lists.

The drift check adds one Evidently report of the lists the champion serves (the inference
log's window, else the champion's lists for the batch's users) to its reports and to the
Evidently workspace: popularity bias (ARP, catalogue coverage, Gini of exposure), novelty,
personalisation and intra-list diversity by genre. Evidently 0.7's ``RecsysPreset`` leaves
popularity bias and novelty out, so the metrics are listed one by one. They read the
training ratings (``additional_data["current_train_data"]``) for popularity and novelty.

Diversity runs as a second report: Evidently's ``PairwiseDistance`` builds a dense distance
matrix over every item of its training data (62,423 movies: 31 GB), while diversity needs
only the listed movies' genres, so that report gets one row per listed movie instead.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd

from recsys.data.schema import ITEM_ID, LIST_SEPARATOR, RATING, USER_ID

#: Evidently metric -> the key it is reported under (the names of
#: ``recsys.evaluation.beyond_accuracy.KEYS`` where they measure the same thing).
METRIC_KEYS = {
    "Popularity Bias (arp)": "avg_rec_popularity",
    "Popularity Bias (coverage)": "coverage",
    "Popularity Bias (gini)": "gini_exposure",
    "Novelty": "novelty",
    "Personalization": "personalisation",
    "Diversity": "diversity",
}


@dataclass(frozen=True)
class RecsysReport:
    """The Evidently snapshot and its values by ``METRIC_KEYS`` key."""

    snapshot: Any
    values: dict[str, float]
    diversity: Any = None

    @property
    def snapshots(self) -> tuple[Any, ...]:
        """Every Evidently snapshot of the report (the main one, then diversity's)."""
        return (self.snapshot,) if self.diversity is None else (self.snapshot, self.diversity)


def lists_frame(lists: Sequence[Sequence[int]], users: Sequence[int] | None = None,
                relevant: pd.DataFrame | None = None) -> pd.DataFrame:
    """Top-k lists as Evidently's long ranking frame: ``user_id, item_id, rank, target``
    (``target`` 1 when the user rated the item in ``relevant``, the batch)."""
    rows = [(users[n] if users is not None else n, int(item), rank + 1)
            for n, items in enumerate(lists) for rank, item in enumerate(items)]
    frame = pd.DataFrame(rows, columns=[USER_ID, ITEM_ID, "rank"])
    frame["target"] = 0
    if relevant is not None and len(frame):
        pairs = pd.MultiIndex.from_frame(relevant[[USER_ID, ITEM_ID]])
        frame["target"] = pd.MultiIndex.from_frame(frame[[USER_ID, ITEM_ID]]).isin(pairs).astype(int)
    return frame


def champion_lists(model: Any, batch: pd.DataFrame, k: int = 10) -> pd.DataFrame:
    """The champion's top-k lists for the batch's users as a ``lists_frame``."""
    recs = model.recommend(batch[USER_ID].unique(), k=k).frame[[USER_ID, ITEM_ID, "rank"]]
    frame = recs.astype({USER_ID: "int64", ITEM_ID: "int64", "rank": "int64"})
    pairs = pd.MultiIndex.from_frame(batch[[USER_ID, ITEM_ID]])
    frame["target"] = pd.MultiIndex.from_frame(frame[[USER_ID, ITEM_ID]]).isin(pairs).astype(int)
    return frame.reset_index(drop=True)


def genre_columns(items: pd.DataFrame | None) -> pd.DataFrame:
    """item_id -> one 0/1 column per genre (``genre_<name>``); empty without genres."""
    if items is None or "genres" not in items:
        return pd.DataFrame()
    genres = items["genres"].fillna("").astype(str).str.get_dummies(LIST_SEPARATOR)
    genres.columns = [f"genre_{c}" for c in genres.columns]
    genres.index = items[ITEM_ID].to_numpy()
    return genres


def recsys_report(current: pd.DataFrame, training: pd.DataFrame, *,
                  reference: pd.DataFrame | None = None, items: pd.DataFrame | None = None,
                  k: int = 10) -> RecsysReport:
    """Run Evidently's recsys metrics on ``current`` lists (``lists_frame``), against
    ``reference`` lists when given, with popularity from the ``training`` ratings."""
    from evidently import DataDefinition, Dataset, Report
    from evidently.core.datasets import Recsys
    from evidently.metrics.recsys import (
        Diversity,
        Novelty,
        Personalization,
        PopularityBiasMetric,
    )

    genres = genre_columns(items)
    features = list(genres.columns)

    def with_genres(frame: pd.DataFrame) -> pd.DataFrame:
        if not features:
            return frame
        return frame.join(genres, on=ITEM_ID).fillna({c: 0 for c in features})

    def run(metrics: list[Any], train: pd.DataFrame, columns: list[str]) -> Any:
        ranking = DataDefinition(
            numerical_columns=["rank", "target", *columns], categorical_columns=[USER_ID, ITEM_ID],
            ranking=[Recsys(user_id=USER_ID, item_id=ITEM_ID, target="target", prediction="rank",
                            recommendations_type="rank")])
        train_definition = DataDefinition(numerical_columns=["target", *columns],
                                          categorical_columns=[USER_ID, ITEM_ID])
        return Report(metrics).run(
            current_data=Dataset.from_pandas(with_genres(current) if columns else current,
                                             data_definition=ranking),
            reference_data=(Dataset.from_pandas(with_genres(reference) if columns else reference,
                                                data_definition=ranking)
                            if reference is not None and len(reference) else None),
            additional_data={"current_train_data": Dataset.from_pandas(
                train, data_definition=train_definition)},
        )

    train = training[[USER_ID, ITEM_ID, RATING]].rename(columns={RATING: "target"})
    metrics: list[Any] = [PopularityBiasMetric(k=k, metric=m) for m in ("arp", "coverage", "gini")]
    metrics += [Novelty(k=k), Personalization(k=k)]
    snapshots = [run(metrics, train, [])]
    if features:
        listed = [current[ITEM_ID]] + ([reference[ITEM_ID]] if reference is not None else [])
        movies = pd.DataFrame({ITEM_ID: pd.unique(pd.concat(listed))})
        movies[USER_ID], movies["target"] = 0, 1.0
        snapshots.append(run([Diversity(k=k, item_features=features)], with_genres(movies), features))
    values: dict[str, float] = {}
    for snapshot in snapshots:
        for metric in snapshot.dict()["metrics"]:
            name = _display_name(metric)
            if name in METRIC_KEYS:
                values[METRIC_KEYS[name]] = float(metric["value"])
    return RecsysReport(snapshots[0], values, snapshots[1] if len(snapshots) > 1 else None)


def _display_name(metric: dict[str, Any]) -> str:
    config = metric.get("config", {})
    kind = str(config.get("type", "")).rsplit(":", 1)[-1].rsplit(".", 1)[-1]
    if kind.endswith("PopularityBiasMetric"):
        return f"Popularity Bias ({config.get('metric', 'arp')})"
    for name in ("Novelty", "Personalization", "Diversity"):
        if kind.endswith(name):
            return name
    return kind
