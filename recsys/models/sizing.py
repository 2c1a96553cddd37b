"""What a fit is expected to need: the data's shape in, a peak-memory estimate and the
all-pairs work out.

``BaseRecommender.estimate_fit_memory`` returns a ``MemoryEstimate`` for a ``DataShape``,
``BaseRecommender.estimate_fit_pairs`` a ``PairsEstimate`` (or ``None``) for models that
compare every user or item with every other; ``recsys.models.budget`` compares them with the
training step's budgets; ``require_dense`` refuses, before allocating, dense matrices the
machine cannot hold.
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


@dataclass(frozen=True)
class PairsEstimate:
    """The pairs a fit scores all against all: its time grows with the square of the users
    or items, however sparse the ratings."""

    pairs: int
    what: str

    def reason(self) -> str:
        """``"all-pairs similarity of 162,541 users scores 2.6e+10 pairs"``."""
        return f"{self.what} scores {self.pairs:.2g} pairs"


def available_memory() -> int | None:
    """Bytes of memory the machine can still give (``MemAvailable``), or ``None`` if unknown."""
    try:
        with open("/proc/meminfo", encoding="ascii") as handle:
            for line in handle:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def require_dense(rows: int, cols: int, copies: int, what: str) -> None:
    """Fail fast, with the arithmetic, before allocating ``copies`` dense float64
    ``rows x cols`` matrices that cannot fit in the available memory (instead of an
    out-of-memory kill half-way through a fit).

    Raises:
        MemoryError: naming ``what``, the size needed and the memory available.
    """
    need = rows * cols * 8 * copies
    have = available_memory()
    if have is not None and need > have:
        raise MemoryError(
            f"{what} needs {copies} dense {rows:,} x {cols:,} float64 matrices "
            f"({need / 2**30:.1f} GiB) but only {have / 2**30:.1f} GiB of memory is available; "
            "use a smaller dataset or a model whose memory grows with the ratings "
            "(item_knn, ials, svd)"
        )
