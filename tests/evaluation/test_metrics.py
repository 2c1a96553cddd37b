"""Metrics against hand-computed values and against a naive per-user reference."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import sparse

from recsys.evaluation import metrics

pytestmark = pytest.mark.unit


def _hits(rows: list[list[int]]) -> np.ndarray:
    return np.asarray(rows, dtype=bool)


# -- hand-computed values ------------------------------------------------------------------
# user A: relevant {1, 2, 3}, list [1, 9, 2] -> hits at ranks 1 and 3
# user B: relevant {7},       list [8, 9, 7] -> hit at rank 3
# user C: relevant {5, 6},    list [1, 2, 3] -> no hit
HITS = _hits([[1, 0, 1], [0, 0, 1], [0, 0, 0]])
N_REL = np.array([3, 1, 2])


def test_precision_hand_computed() -> None:
    assert metrics.precision_at_k(HITS) == pytest.approx((2 / 3 + 1 / 3 + 0) / 3)


def test_recall_hand_computed() -> None:
    assert metrics.recall_at_k(HITS, N_REL) == pytest.approx((2 / 3 + 1 + 0) / 3)


def test_ndcg_hand_computed() -> None:
    a = (1 / math.log(2) + 1 / math.log(4)) / (1 / math.log(2) + 1 / math.log(3) + 1 / math.log(4))
    b = (1 / math.log(4)) / (1 / math.log(2))
    assert metrics.ndcg_at_k(HITS, N_REL) == pytest.approx((a + b + 0) / 3)


def test_map_hand_computed() -> None:
    # AP(A) = (1/1 + 2/3) / min(3, 3); AP(B) = (1/3) / 1; AP(C) = 0
    assert metrics.map_at_k(HITS, N_REL) == pytest.approx(((1 + 2 / 3) / 3 + 1 / 3) / 3)


def test_hit_rate_and_mrr_hand_computed() -> None:
    assert metrics.hit_rate_at_k(HITS) == pytest.approx(2 / 3)
    assert metrics.mrr(HITS) == pytest.approx((1 + 1 / 3 + 0) / 3)


def test_rmse_mae_hand_computed() -> None:
    assert metrics.rmse([1, 2, 3], [2, 2, 5]) == pytest.approx(math.sqrt((1 + 0 + 4) / 3))
    assert metrics.mae([1, 2, 3], [2, 2, 5]) == pytest.approx(1.0)
    assert metrics.rmse([1, 2], [np.nan, 2]) == pytest.approx(0.0)
    with pytest.raises(ValueError, match="differ in length"):
        metrics.rmse([1, 2], [1])


def test_coverage_novelty_hand_computed() -> None:
    recs = np.array([[0, 1], [1, -1]])
    assert metrics.catalogue_coverage(recs, 4) == pytest.approx(0.5)
    counts = np.array([3, 1, 0, 0])
    # p0 = 4/5, p1 = 2/5: mean of -log2 over items 0, 1, 1
    expected = (-math.log2(4 / 5) - 2 * math.log2(2 / 5)) / 3
    assert metrics.novelty(recs, counts, n_users=4) == pytest.approx(expected)


def test_diversity_hand_computed() -> None:
    vectors = np.array([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    # list 1: items 0, 1 identical -> 1 - 1 = 0; list 2: items 0, 2 orthogonal -> 1
    # list 3: items 0, 2, 3: cos pairs 0, 1/sqrt2, 1/sqrt2 -> 1 - sqrt2/3
    recs = np.array([[0, 1, -1], [0, 2, -1], [0, 2, 3]])
    expected = (0 + 1 + (1 - math.sqrt(2) / 3)) / 3
    assert metrics.intra_list_diversity(recs, vectors) == pytest.approx(expected)


def test_hit_matrix_from_frames() -> None:
    recs = pd.DataFrame({"user_id": [10, 10, 10, 20, 20, 99], "item_id": [1, 9, 2, 8, 7, 1],
                         "rank": [1, 2, 3, 1, 2, 1]})
    test = pd.DataFrame({"user_id": [10, 10, 10, 20, 30], "item_id": [1, 2, 3, 7, 5]})
    hits, n_rel, users = metrics.hit_matrix(recs, test, k=3)
    assert users.tolist() == [10, 20, 30]
    assert n_rel.tolist() == [3, 1, 1]
    assert hits.tolist() == [[True, False, True], [False, True, False], [False, False, False]]


def test_genre_vectors() -> None:
    items = pd.DataFrame({"item_id": [1, 2, 5], "genres": ["Action|Drama", "", "Drama"]})
    mat = metrics.genre_vectors(items, np.array([1, 2, 3, 5]))
    assert mat is not None
    dense = mat.toarray()
    assert dense.shape == (4, 2)
    assert dense.sum(axis=1).tolist() == [2, 0, 0, 1]


# -- properties ----------------------------------------------------------------------------
def _naive(lists: list[list[int]], relevant: list[set[int]], k: int) -> dict[str, float]:
    """Per-user loops straight from the textbook definitions."""
    p = r = n = ap = hr = rr = 0.0
    for rec, rel in zip(lists, relevant, strict=True):
        top = rec[:k]
        hit_flags = [item in rel for item in top]
        n_hits = sum(hit_flags)
        p += n_hits / k
        r += n_hits / len(rel)
        dcg = sum(1 / math.log2(i + 2) for i, h in enumerate(hit_flags) if h)
        idcg = sum(1 / math.log2(i + 2) for i in range(min(len(rel), k)))
        n += dcg / idcg
        seen = 0
        s = 0.0
        for i, h in enumerate(hit_flags):
            if h:
                seen += 1
                s += seen / (i + 1)
        ap += s / min(len(rel), k)
        hr += 1.0 if n_hits else 0.0
        rr += next((1 / (i + 1) for i, h in enumerate(hit_flags) if h), 0.0)
    m = len(lists)
    return {"p": p / m, "r": r / m, "n": n / m, "ap": ap / m, "hr": hr / m, "rr": rr / m}


@st.composite
def ranked_lists(draw: st.DrawFn) -> tuple[list[list[int]], list[set[int]], int]:
    k = draw(st.integers(1, 6))
    n_users = draw(st.integers(1, 6))
    lists, relevant = [], []
    for _ in range(n_users):
        rec = draw(st.lists(st.integers(0, 12), min_size=0, max_size=k, unique=True))
        rel = draw(st.sets(st.integers(0, 12), min_size=1, max_size=8))
        lists.append(rec)
        relevant.append(rel)
    return lists, relevant, k


@settings(max_examples=60, deadline=None)
@given(ranked_lists())
def test_vectorised_metrics_match_naive(case: tuple[list[list[int]], list[set[int]], int]) -> None:
    lists, relevant, k = case
    rec_rows = [(u, item, rank + 1) for u, rec in enumerate(lists) for rank, item in enumerate(rec)]
    recs = pd.DataFrame(rec_rows, columns=["user_id", "item_id", "rank"])
    test = pd.DataFrame([(u, i) for u, rel in enumerate(relevant) for i in rel],
                        columns=["user_id", "item_id"])
    hits, n_rel, users = metrics.hit_matrix(recs, test, k)
    assert users.tolist() == list(range(len(lists)))
    want = _naive(lists, relevant, k)
    assert metrics.precision_at_k(hits, k) == pytest.approx(want["p"])
    assert metrics.recall_at_k(hits, n_rel) == pytest.approx(want["r"])
    assert metrics.ndcg_at_k(hits, n_rel) == pytest.approx(want["n"])
    assert metrics.map_at_k(hits, n_rel) == pytest.approx(want["ap"])
    assert metrics.hit_rate_at_k(hits) == pytest.approx(want["hr"])
    assert metrics.mrr(hits) == pytest.approx(want["rr"])
    for value in (metrics.ndcg_at_k(hits, n_rel), metrics.map_at_k(hits, n_rel),
                  metrics.recall_at_k(hits, n_rel)):
        assert 0.0 <= value <= 1.0 + 1e-12


@settings(max_examples=40, deadline=None)
@given(
    st.integers(2, 6).flatmap(
        lambda n_items: st.tuples(
            st.lists(st.lists(st.integers(0, 1), min_size=3, max_size=3), min_size=n_items,
                     max_size=n_items),
            st.lists(st.lists(st.integers(0, n_items - 1), min_size=2, max_size=4, unique=True),
                     min_size=1, max_size=4),
        )
    )
)
def test_diversity_matches_pairwise_loop(case: tuple[list[list[int]], list[list[int]]]) -> None:
    vectors_list, lists = case
    vectors = np.asarray(vectors_list, dtype=float)
    width = max(len(x) for x in lists)
    recs = np.full((len(lists), width), -1)
    for row, rec in enumerate(lists):
        recs[row, : len(rec)] = rec
    norms = np.linalg.norm(vectors, axis=1)
    expected = []
    for rec in lists:
        cos = [
            (vectors[a] @ vectors[b]) / (norms[a] * norms[b]) if norms[a] and norms[b] else 0.0
            for a in rec for b in rec if a != b
        ]
        expected.append(1 - np.mean(cos))
    got = metrics.intra_list_diversity(recs, sparse.csr_matrix(vectors))
    assert got == pytest.approx(float(np.mean(expected)))
