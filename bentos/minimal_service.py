"""The framework floor for the serving benchmark: BentoML plus the same scoring, nothing else.

It fits a ``Popularity`` model at start-up on synthetic ratings shaped like ML-100K (943
users, 1,682 items, 100,000 ratings; seeded) and answers ``POST /recommend`` with the same
``BaseRecommender.recommend`` call the real service makes, but with no model resolution or
loading, no titles, no availability, no request guard, no response schema and no inference
log. ``benchmarks/serving.py`` compares the real service's throughput against it.

``bentoml serve bentos.minimal_service:MinimalRecommender``
"""

from __future__ import annotations

from typing import Any

import bentoml
import numpy as np
import pandas as pd

N_USERS, N_ITEMS, N_RATINGS = 943, 1682, 100_000


def synthetic_popularity(seed: int = 0) -> Any:
    """A Popularity model fitted on random ratings (Zipf-like item popularity)."""
    from recsys.data.interactions import Interactions
    from recsys.models import create
    from recsys.sampling import as_rng

    rng = as_rng(seed)
    weights = 1.0 / np.arange(1, N_ITEMS + 1)
    ratings = pd.DataFrame({
        "user_id": rng.integers(1, N_USERS + 1, N_RATINGS),
        "item_id": rng.choice(np.arange(1, N_ITEMS + 1), N_RATINGS, p=weights / weights.sum()),
        "rating": rng.integers(1, 6, N_RATINGS).astype(float),
        "timestamp": np.zeros(N_RATINGS, dtype=np.int64),
    }).drop_duplicates(["user_id", "item_id"])
    return create("popularity").fit(Interactions.from_frame(ratings))


@bentoml.service(name="movierec-floor", traffic={"timeout": 30})
class MinimalRecommender:
    """Same scoring as the real service, none of its enrichment."""

    def __init__(self) -> None:
        self.model = synthetic_popularity()

    @bentoml.api
    def recommend(self, user_id: int, k: int = 10) -> dict[str, Any]:
        frame = self.model.recommend(user_id, k).frame
        return {"items": frame["item_id"].tolist(), "scores": frame["score"].tolist()}
