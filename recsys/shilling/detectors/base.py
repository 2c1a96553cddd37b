"""The detector interface: ``fit(interactions)`` then per-user scores in [0, 1].

A score of 0.5 or more means "flagged" unless a caller picks another threshold.
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from typing import ClassVar, Self

import numpy as np
import pandas as pd

from recsys.data.interactions import Interactions
from recsys.data.schema import ITEM_ID, RATING, USER_ID
from recsys.errors import NotFittedError


def _frame(data: Interactions | pd.DataFrame) -> pd.DataFrame:
    frame = data.frame if isinstance(data, Interactions) else data
    missing = {USER_ID, ITEM_ID, RATING} - set(frame.columns)
    if missing:
        raise ValueError(f"ratings lack column(s): {', '.join(sorted(missing))}")
    return frame


class ShillingDetector(ABC):
    """The detector interface: ``fit(interactions)`` computes a suspicion score per user."""

    name: ClassVar[str] = "detector"

    @abstractmethod
    def _score(self, frame: pd.DataFrame) -> pd.Series:
        """Scores in [0, 1] indexed by ``user_id`` for every user of ``frame``."""

    def fit(self, interactions: Interactions | pd.DataFrame) -> Self:
        """Score every user of ``interactions`` (ratings frame or ``Interactions``)."""
        start = time.perf_counter()
        scores = self._score(_frame(interactions)).clip(0.0, 1.0).astype(np.float64)
        scores.index.name = USER_ID
        self.scores_: pd.Series = scores.rename("score")
        self.fit_seconds_: float = time.perf_counter() - start
        return self

    def scores(self) -> pd.Series:
        """Per-user suspicion in [0, 1], indexed by ``user_id``."""
        if not hasattr(self, "scores_"):
            raise NotFittedError(f"{type(self).__name__} is not fitted: call fit() first")
        return self.scores_

    def flagged(self, threshold: float = 0.5) -> pd.Series:
        """``True`` for users whose score reaches ``threshold``."""
        return self.scores() >= threshold
