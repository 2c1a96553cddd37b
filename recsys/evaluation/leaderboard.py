"""The leaderboard of a run: variants ranked by one metric, for any list length ``k``.

``rank`` orders the variants; ``Leaderboard`` renders the table (CSV, markdown), the
``metrics.json`` payload DVC tracks, and names the columns worth plotting.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import pandas as pd

#: Metrics that describe the run's cost, not its quality: shown, never in ``metrics.json``.
TIMINGS = ("fit_seconds", "recommend_seconds")


def shown_columns(k: int) -> list[str]:
    """The leaderboard's markdown columns for list length ``k``."""
    return ["rank", "variant", "trials", f"ndcg_at_{k}", f"precision_at_{k}", f"recall_at_{k}",
            f"map_at_{k}", f"hit_rate_at_{k}", "mrr", "coverage", "avg_rec_popularity",
            "gini_exposure", "novelty", "personalisation", "diversity", "rmse", *TIMINGS]


def plotted_columns(k: int) -> list[str]:
    """The metrics drawn as bars, one panel each."""
    return [f"ndcg_at_{k}", f"precision_at_{k}", f"recall_at_{k}", "coverage"]


@dataclass(frozen=True)
class Leaderboard:
    """Variants ranked by ``metric`` (best first), with a ``rank`` column from 1; ``scores``
    are the ranked metrics in the order the variants were given (``metrics.json``'s)."""

    table: pd.DataFrame
    metric: str
    k: int
    scores: tuple[tuple[str, dict[str, float]], ...] = ()

    @property
    def best(self) -> str:
        return str(self.table.iloc[0]["variant"])

    def markdown(self) -> str:
        shown = [c for c in shown_columns(self.k) if c in self.table.columns]
        return str(self.table[shown].to_markdown(index=False, floatfmt=".4f"))

    def records(self) -> list[dict[str, Any]]:
        return [{str(key): value for key, value in row.items()}
                for row in self.table.to_dict("records")]

    def metrics_payload(self) -> dict[str, Any]:
        """``metrics.json``: the best variant's score and every variant's quality metrics."""
        best = self.table.iloc[0]
        variants = {variant: {key: float(value) for key, value in metrics.items()
                              if key not in TIMINGS}
                    for variant, metrics in self.scores}
        return {"best": {"variant": str(best["variant"]), self.metric: float(best[self.metric])},
                "variants": variants}

    def write(self, folder: Path, metrics_file: Path) -> tuple[Path, Path]:
        """``leaderboard.csv`` and ``leaderboard.md`` in ``folder``, and ``metrics_file``."""
        folder.mkdir(parents=True, exist_ok=True)
        csv = folder / "leaderboard.csv"
        self.table.to_csv(csv, index=False)
        (folder / "leaderboard.md").write_text(self.markdown() + "\n")
        metrics_file.write_text(json.dumps(self.metrics_payload(), indent=2) + "\n")
        return csv, folder / "leaderboard.md"


def rank(scores: Sequence[tuple[str, Mapping[str, float]]], metric: str, k: int,
         direction: Literal["maximize", "minimize"] = "maximize", *,
         columns: Mapping[str, Mapping[str, Any]] | None = None) -> Leaderboard:
    """Rank ``(variant, metrics)`` pairs by ``metric``; ties keep their given order.

    ``columns`` adds descriptive columns (name -> variant -> value, e.g. ``trials``: how
    many hyperparameter trials chose the variant's settings) after ``variant``; they are
    shown, never ranked by nor written to ``metrics.json``.
    """
    if not scores:
        raise ValueError("no variant to rank")
    described = columns or {}
    table = pd.DataFrame([{"variant": variant,
                           **{name: values.get(variant) for name, values in described.items()},
                           **metrics} for variant, metrics in scores])
    if metric not in table.columns:
        raise ValueError(f"metric {metric!r} was not computed; have: "
                         f"{', '.join(c for c in table.columns if c != 'variant')}")
    table = table.sort_values(metric, ascending=direction == "minimize",
                              kind="stable").reset_index(drop=True)
    table.insert(0, "rank", range(1, len(table) + 1))
    return Leaderboard(table, metric, k, tuple((v, dict(m)) for v, m in scores))
