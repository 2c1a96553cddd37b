"""The leaderboard ranks by any metric at any k (it once showed only ``*_at_10`` columns)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from recsys.evaluation.leaderboard import rank

pytestmark = pytest.mark.unit


def _scores(k: int) -> list[tuple[str, dict[str, float]]]:
    def metrics(ndcg: float) -> dict[str, float]:
        return {f"ndcg_at_{k}": ndcg, f"precision_at_{k}": ndcg / 2, f"recall_at_{k}": ndcg / 3,
                "coverage": 0.1, "fit_seconds": 1.5, "recommend_seconds": 0.2}

    return [("popularity", metrics(0.25)), ("ease", metrics(0.5)), ("svd", metrics(0.4))]


@pytest.mark.parametrize("k", [5, 10, 20])
def test_columns_follow_k(k: int, tmp_path: Path) -> None:
    board = rank(_scores(k), f"ndcg_at_{k}", k)
    assert board.best == "ease"
    assert list(board.table["variant"]) == ["ease", "svd", "popularity"]
    assert list(board.table["rank"]) == [1, 2, 3]
    header = board.markdown().splitlines()[0]
    assert f"ndcg_at_{k}" in header and f"precision_at_{k}" in header
    other = 10 if k != 10 else 5
    assert f"_at_{other}" not in header
    board.write(tmp_path / "report", tmp_path / "metrics.json")
    payload = json.loads((tmp_path / "metrics.json").read_text())
    assert payload["best"] == {"variant": "ease", f"ndcg_at_{k}": 0.5}
    assert list(payload["variants"]) == ["popularity", "ease", "svd"]  # training order
    assert "fit_seconds" not in payload["variants"]["ease"]
    assert (tmp_path / "report" / "leaderboard.csv").is_file()


def test_minimize_ranks_the_smallest_first_and_ties_keep_their_order() -> None:
    scores = [("a", {"rmse": 0.9}), ("b", {"rmse": 0.8}), ("c", {"rmse": 0.8})]
    board = rank(scores, "rmse", 10, "minimize")
    assert list(board.table["variant"]) == ["b", "c", "a"]


def test_a_metric_that_was_not_computed_is_an_error() -> None:
    with pytest.raises(ValueError, match="ndcg_at_10"):
        rank(_scores(5), "ndcg_at_10", 5)


def test_a_trials_column_is_shown_but_never_ranked_or_tracked(tmp_path: Path) -> None:
    board = rank(_scores(10), "ndcg_at_10", 10,
                 columns={"trials": {"ease": 4, "svd": 0, "popularity": 0}})
    assert list(board.table.columns[:3]) == ["rank", "variant", "trials"]
    assert dict(zip(board.table["variant"], board.table["trials"], strict=True)) == {
        "ease": 4, "svd": 0, "popularity": 0}
    assert board.markdown().splitlines()[0].split("|")[3].strip() == "trials"
    board.write(tmp_path / "report", tmp_path / "metrics.json")
    payload = json.loads((tmp_path / "metrics.json").read_text())
    assert "trials" not in payload["variants"]["ease"]
