"""Is a challenger really better than the champion? Per-user scores and a paired bootstrap.

Two models are scored on the same test users (each user's ranking metric, the quantity
``recsys.evaluation.metrics`` averages), and the difference of their means is resampled
over users (paired: one resample draws the same users for both models). The interval of
that difference says whether a gap such as 0.48182 against 0.48175 is more than the noise
of which users happen to be in the test set.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from recsys.data.schema import USER_ID
from recsys.evaluation import metrics
from recsys.models import BaseRecommender

#: Resamples drawn at once: bounds memory to CHUNK x n_users indices.
CHUNK = 100
_AT_K = re.compile(r"^(precision|recall|ndcg|map|hit_rate)_at_(\d+)$")


def per_user_metric(metric: str) -> tuple[str, int | None]:
    """``(name, k)`` of a per-user ranking metric (``ndcg_at_10`` -> ``("ndcg", 10)``,
    ``mrr`` -> ``("mrr", None)``).

    Raises:
        ValueError: for metrics that are not a mean over users (coverage, rmse...).
    """
    match = _AT_K.match(metric)
    if match:
        return match.group(1), int(match.group(2))
    if metric == "mrr":
        return "mrr", None
    raise ValueError(f"{metric!r} is not a per-user ranking metric: no paired comparison")


def per_user_scores(model: BaseRecommender, test: pd.DataFrame, metric: str,
                    k: int = 10) -> tuple[NDArray[np.int64], NDArray[np.float64]]:
    """``(users, scores)``: ``metric`` of each distinct test user (sorted ids); their mean is
    ``recsys.evaluation.evaluate``'s figure for the same model and test."""
    name, at = per_user_metric(metric)
    depth = at or k
    users = np.unique(test[USER_ID].to_numpy(dtype=np.int64))
    recs = model.recommend(users, k=depth, exclude_seen=True)
    hits, n_relevant, evaluated = metrics.hit_matrix(recs.frame, test, depth)
    scores = np.empty(evaluated.size, dtype=np.float64)
    for row in range(evaluated.size):  # the library's own definitions, one user at a time
        scores[row] = _one(name, hits[row:row + 1], n_relevant[row:row + 1], depth)
    return evaluated, scores


def _one(name: str, hits: NDArray[np.bool_], n_relevant: NDArray[np.int64], k: int) -> float:
    if name == "precision":
        return metrics.precision_at_k(hits, k)
    if name == "recall":
        return metrics.recall_at_k(hits, n_relevant)
    if name == "ndcg":
        return metrics.ndcg_at_k(hits, n_relevant)
    if name == "map":
        return metrics.map_at_k(hits, n_relevant)
    if name == "hit_rate":
        return metrics.hit_rate_at_k(hits)
    return metrics.mrr(hits)


@dataclass(frozen=True)
class PairedInterval:
    """Bootstrap interval of ``mean(a) - mean(b)`` over paired users."""

    mean_a: float
    mean_b: float
    low: float
    high: float
    n_users: int
    confidence: float


def paired_bootstrap(a: NDArray[np.float64], b: NDArray[np.float64], *,
                     n_resamples: int = 2000, confidence: float = 0.95,
                     seed: int = 0) -> PairedInterval:
    """Percentile interval of the mean paired difference ``a - b`` (same users, same order)."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.shape != b.shape or a.ndim != 1 or a.size == 0:
        raise ValueError(f"need two equally long, non-empty score vectors, got {a.shape} and {b.shape}")
    diff = a - b
    rng = np.random.default_rng(seed)
    means = np.empty(n_resamples, dtype=np.float64)
    for start in range(0, n_resamples, CHUNK):
        stop = min(start + CHUNK, n_resamples)
        draws = rng.integers(0, diff.size, size=(stop - start, diff.size))
        means[start:stop] = diff[draws].mean(axis=1)
    tail = (1.0 - confidence) / 2.0
    low, high = np.quantile(means, [tail, 1.0 - tail])
    return PairedInterval(float(a.mean()), float(b.mean()), float(low), float(high),
                          int(diff.size), confidence)


def compare_models(challenger: BaseRecommender, champion: BaseRecommender, test: pd.DataFrame,
                   metric: str, *, k: int = 10, confidence: float = 0.95,
                   seed: int = 0) -> PairedInterval:
    """Paired bootstrap of ``challenger`` minus ``champion`` on ``metric`` over ``test``'s users
    (both fitted on the same training data)."""
    users_a, a = per_user_scores(challenger, test, metric, k)
    users_b, b = per_user_scores(champion, test, metric, k)
    if not np.array_equal(users_a, users_b):
        raise ValueError("the two models were scored on different users")
    return paired_bootstrap(a, b, confidence=confidence, seed=seed)
