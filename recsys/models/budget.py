"""Memory budget of the training step: which variants fit, and why the others are skipped.

Each model estimates the peak memory of its fit from the data's shape
(``BaseRecommender.estimate_fit_memory``); a variant over the budget is skipped with a
reason the leaderboard shows ("dense users x users matrix (162,541 users) needs 634.1 GB")
instead of a fit the kernel's out-of-memory killer would end without a word. Models that
compare every user (or item) with every other also say how many pairs that is
(``BaseRecommender.estimate_fit_pairs``): their time grows with the square of the catalogue,
and a profile caps it (``train.max_fit_pairs``) rather than let one fit take the run's hour.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from recsys.data.schema import ITEM_ID, USER_ID
from recsys.models import model_class
from recsys.models.sizing import DataShape, available_memory

#: Share of the available memory the concurrently running fits may use together.
AVAILABLE_SHARE = 0.8


def data_shape(ratings: pd.DataFrame) -> DataShape:
    """Users, items and ratings of a training table."""
    return DataShape(
        n_users=int(np.unique(ratings[USER_ID].to_numpy()).size),
        n_items=int(np.unique(ratings[ITEM_ID].to_numpy()).size),
        nnz=len(ratings),
    )


def per_fit_budget(budget_gb: float | None, parallel: int) -> int | None:
    """Bytes one fit may use: ``budget_gb`` (the whole training step's), or the share
    ``AVAILABLE_SHARE`` of the memory available now, divided among the ``parallel`` fits;
    ``None`` when neither is known."""
    total = budget_gb * 1e9 if budget_gb is not None else None
    if total is None:
        have = available_memory()
        total = have * AVAILABLE_SHARE if have is not None else None
    return None if total is None else int(total / max(1, parallel))


def skip_reason(variant: str, params: Mapping[str, Any], shape: DataShape,
                budget: int | None, max_pairs: int | None = None) -> str | None:
    """Why ``variant`` with ``params`` must not be fitted on data of ``shape`` within
    ``budget`` bytes and ``max_pairs`` all-against-all pairs, or ``None`` when it fits."""
    cls = model_class(variant)
    config = cls.config_class()(**dict(params))
    estimate = cls.estimate_fit_memory(config, shape)
    if budget is not None and estimate.bytes > budget:
        return f"skipped: {estimate.reason()} (budget {budget / 1e9:,.1f} GB per fit)"
    pairs = cls.estimate_fit_pairs(config, shape)
    if max_pairs is not None and pairs is not None and pairs.pairs > max_pairs:
        return f"skipped: {pairs.reason()} (train.max_fit_pairs {max_pairs:.2g})"
    return None
