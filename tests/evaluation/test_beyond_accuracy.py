"""Beyond-accuracy metrics: hand-computed cases, a brute-force check, and Evidently's values."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest
from scipy import sparse

from recsys.evaluation.beyond_accuracy import (
    avg_rec_popularity,
    beyond_accuracy,
    gini,
    lists_to_index,
    personalisation,
    served_lists_quality,
)

pytestmark = pytest.mark.unit


def test_gini_hand_computed() -> None:
    assert gini([1, 1, 1, 1]) == pytest.approx(0.0)
    assert gini([0, 0, 0, 4]) == pytest.approx(0.75)  # (n - 1) / n for one item taking all
    assert gini([]) == 0.0 and gini([0, 0]) == 0.0


def test_personalisation_matches_pairwise_overlap() -> None:
    rng = np.random.default_rng(0)
    recs = np.stack([rng.choice(30, size=5, replace=False) for _ in range(40)])
    overlaps = [len(set(a) & set(b)) / 5 for a, b in itertools.combinations(recs.tolist(), 2)]
    assert personalisation(recs, 30) == pytest.approx(1 - np.mean(overlaps))
    same = np.tile(np.arange(5), (10, 1))
    assert personalisation(same, 30) == pytest.approx(0.0)
    disjoint = np.arange(20).reshape(4, 5)
    assert personalisation(disjoint, 30) == pytest.approx(1.0)


def test_popularity_bias_hand_computed() -> None:
    recs = np.array([[0, 1], [2, -1]])
    counts = np.array([4, 2, 1, 0])
    # list 1: (4/4 + 2/4) / 2 = 0.75; list 2: 1/4; mean 0.5
    assert avg_rec_popularity(recs, counts, 4) == pytest.approx(0.5)
    out = beyond_accuracy(recs, counts, 4)
    assert out["coverage"] == pytest.approx(3 / 4)
    assert out["gini_exposure"] == pytest.approx(gini([1, 1, 1, 0]))


def test_served_lists_quality_reads_raw_ids() -> None:
    training = pd.DataFrame({"user_id": [1, 1, 2, 3], "item_id": [10, 20, 10, 30],
                             "rating": [5.0, 4.0, 3.0, 2.0], "timestamp": [1, 2, 3, 4]})
    items = pd.DataFrame({"item_id": [10, 20, 30, 40],
                          "genres": ["Drama", "Comedy", "Drama|Comedy", "Horror"]})
    assert lists_to_index([[10, 99], [40]], np.array([10, 20, 30, 40])).tolist() == [
        [0, -1], [3, -1]]
    out = served_lists_quality([[10, 20], [10, 30], [40, 10]], training, items)
    assert out["lists"] == 3
    assert out["coverage"] == pytest.approx(1.0)
    assert 0 < out["personalisation"] < 1
    assert out["diversity"] > 0


def test_values_agree_with_evidently() -> None:
    """Evidently 0.7's recsys metrics on the same lists: personalisation, ARP and coverage
    agree (RecsysPreset leaves PopularityBias and Novelty out; asked for here)."""
    from evidently import DataDefinition, Dataset, Recsys, Report
    from evidently.metrics.recsys import Personalization, PopularityBiasMetric

    rng = np.random.default_rng(1)
    n_items, k = 40, 5
    train = pd.DataFrame({"user_id": rng.integers(0, 30, 600), "item_id": rng.integers(0, n_items, 600)})
    train = train.drop_duplicates().assign(target=1.0, prediction=1.0)
    lists = [rng.choice(n_items, size=k, replace=False) for _ in range(25)]
    current = pd.DataFrame([{"user_id": u, "item_id": int(i), "prediction": r + 1, "target": 0.0}
                            for u, items in enumerate(lists) for r, i in enumerate(items)])
    definition = DataDefinition(numerical_columns=["target", "prediction"],
                                ranking=[Recsys(recommendations_type="rank")])
    snapshot = Report([Personalization(k=k), PopularityBiasMetric(k=k, metric="arp"),
                       PopularityBiasMetric(k=k, metric="gini"),
                       PopularityBiasMetric(k=k, metric="coverage")]).run(
        Dataset.from_pandas(current, data_definition=definition), None,
        additional_data={"current_train_data": Dataset.from_pandas(
            train, data_definition=DataDefinition(numerical_columns=["target", "prediction"],
                                                  ranking=[Recsys()]))})
    values = [m["value"] for m in snapshot.dict()["metrics"]]
    counts = train.groupby("item_id")["user_id"].nunique().reindex(range(n_items), fill_value=0)
    ours = beyond_accuracy(np.stack(lists), counts.to_numpy(), train["user_id"].nunique(),
                           sparse.csr_matrix((n_items, 1)))
    assert ours["personalisation"] == pytest.approx(values[0], abs=1e-6)
    # Evidently's ARP counts raters; ours is their share of the training users
    assert ours["avg_rec_popularity"] * train["user_id"].nunique() == pytest.approx(values[1])
    assert ours["coverage"] == pytest.approx(values[3])
    # Evidently's Gini ranks only the items the training data holds: same direction
    assert 0 < values[2] < 1 and 0 < ours["gini_exposure"] < 1
