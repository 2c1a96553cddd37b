"""``top_k`` against a brute-force sort, on catalogues wide enough for its block bound."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import sparse

from recsys.models import top_k


def _reference(scores: np.ndarray, k: int, exclude: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    idx = np.full((scores.shape[0], k), -1, np.int64)
    val = np.full((scores.shape[0], k), np.nan)
    for r, row in enumerate(scores):
        valid = np.flatnonzero(~np.isnan(row) & ~exclude[r])
        chosen = valid[np.lexsort((valid, -row[valid]))][:k]
        idx[r, : chosen.size] = chosen
        val[r, : chosen.size] = row[chosen]
    return idx, val


def _scores(rng: np.random.Generator, n_rows: int, n_items: int) -> np.ndarray:
    scores = rng.normal(size=(n_rows, n_items))
    scores[0] = np.round(scores[0])                 # heavy ties
    scores[1] = 0.0                                 # one value everywhere
    scores[2] = np.nan                              # nothing valid but a handful
    scores[2, rng.choice(n_items, 4, replace=False)] = rng.normal(size=4)
    scores[3, : n_items // 2] = np.nan              # the valid half in the last blocks
    scores[4, rng.random(n_items) < 0.3] = -np.inf  # valid minus-infinity scores
    scores[7] = np.arange(n_items)                  # sorted: the best all in the last blocks
    scores[8] = np.arange(n_items)[::-1] // 3       # sorted the other way, in tied triples
    return scores


@pytest.mark.parametrize("n_items", [70, 2_000, 5_003])
@pytest.mark.parametrize("k", [1, 3, 10, 100, 500])
@pytest.mark.parametrize("seed", [0, 1])
def test_top_k_matches_a_full_sort(n_items: int, k: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    scores = _scores(rng, 12, n_items)
    exclude = rng.random(scores.shape) < 0.2
    exclude[5] = True                               # every item excluded
    exclude[6, :] = False
    exclude[6, : n_items - 2] = True                # fewer valid items than k
    idx, val = top_k(scores, k, sparse.csr_matrix(exclude))
    want_idx, want_val = _reference(scores, k, exclude)
    np.testing.assert_array_equal(idx, want_idx)
    np.testing.assert_array_equal(val, want_val)
    dense_idx, _ = top_k(scores, k, exclude)
    np.testing.assert_array_equal(dense_idx, want_idx)


def test_top_k_deeper_lists_begin_with_the_shorter_ones() -> None:
    """The evaluation takes its top-10 from the precision-recall curve's top-20 lists."""
    scores = _scores(np.random.default_rng(3), 12, 3_000)
    short, _ = top_k(scores, 10)
    deep, _ = top_k(scores, 20)
    np.testing.assert_array_equal(deep[:, :10], short)
