"""What a fit is expected to need: the data's shape in, a peak-memory estimate out.

``BaseRecommender.estimate_fit_memory`` returns a ``MemoryEstimate`` for a ``DataShape``;
``recsys.models.budget`` compares it with the training step's memory budget.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class DataShape:
    """The size of a training set, enough to estimate what a fit needs."""

    n_users: int
    n_items: int
    nnz: int


@dataclass(frozen=True)
class MemoryEstimate:
    """Peak bytes a fit is expected to allocate, and the structure that dominates."""

    bytes: int
    what: str

    def reason(self) -> str:
        """``"dense users x users matrix needs 211 GB"``: the leaderboard's skip reason."""
        return f"{self.what} needs {self.bytes / 1e9:,.1f} GB"
