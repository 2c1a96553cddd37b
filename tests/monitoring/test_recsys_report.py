"""Evidently's recsys metrics on top-k lists: diversity sized by the listed movies, not by
the catalogue."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from recsys.monitoring.recsys_report import lists_frame, recsys_report


def test_diversity_compares_only_the_listed_movies(monkeypatch: pytest.MonkeyPatch) -> None:
    from evidently.legacy.metrics.recsys import pairwise_distance

    shapes: list[tuple[int, ...]] = []
    real = pairwise_distance.pairwise_distances

    def recording(x: pd.DataFrame, **kwargs: object) -> np.ndarray:
        shapes.append(x.shape)
        return real(x, **kwargs)

    monkeypatch.setattr(pairwise_distance, "pairwise_distances", recording)
    rng = np.random.default_rng(0)
    catalogue = 5_000  # every movie rated in training; 12 genres
    items = pd.DataFrame({"item_id": np.arange(catalogue),
                          "genres": [f"g{i % 12}|g{(i * 7) % 12}" for i in range(catalogue)]})
    training = pd.DataFrame({"user_id": rng.integers(0, 400, 20_000),
                             "item_id": np.resize(np.arange(catalogue), 20_000),
                             "rating": rng.integers(1, 6, 20_000).astype(float)})
    lists = [list(rng.choice(300, 10, replace=False)) for _ in range(40)]
    report = recsys_report(lists_frame(lists, list(range(40))), training, items=items)
    listed = len({i for top in lists for i in top})
    assert shapes and max(s[0] for s in shapes) == listed  # not the 5,000 movies of the catalogue
    assert report.values["diversity"] > 0
    assert set(report.values) == {"avg_rec_popularity", "coverage", "gini_exposure", "novelty",
                                  "personalisation", "diversity"}
    assert len(report.snapshots) == 2
