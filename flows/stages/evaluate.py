"""Evaluate: rank the variants and write the evaluation report, plots and ``metrics.json``."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import pandas as pd
from prefect import flow, task
from prefect.cache_policies import NO_CACHE

from flows.stages.train import TrainedVariant
from recsys.evaluation.leaderboard import plotted_columns, rank
from recsys.tracking.mlflow_runs import plot_metric_bars, plot_precision_recall


@dataclass(frozen=True)
class Board:
    """The written leaderboard: the best variant, its table (markdown, CSV, records), the
    report folder, the plots and the ``metrics.json`` written."""

    best: str
    markdown: str
    report_dir: str
    leaderboard: str
    metrics_file: str
    plots: list[str] = field(default_factory=list)
    records: list[dict[str, Any]] = field(default_factory=list)


@task(cache_policy=NO_CACHE)
def leaderboard_task(results: list[TrainedVariant], metric: str,
                     direction: Literal["maximize", "minimize"], k: int, report_dir: str,
                     metrics_file: str) -> Board:
    """The leaderboard table, ``metrics.json`` (DVC), and the metric and precision/recall plots."""
    board = rank([(r.variant, r.metrics) for r in results], metric, k, direction,
                 columns={"trials": {r.variant: r.trials for r in results}})
    out = Path(report_dir)
    csv, _ = board.write(out, Path(metrics_file))
    searched = [r.search for r in results if r.search is not None]
    trials = out / "trials.csv"
    if searched:
        # object columns: a field one variant lacks is empty, not a float NaN that turns
        # the other variant's integers into 20.0
        tables = [s.table().astype(object).assign(variant=s.variant) for s in searched]
        table = pd.concat(tables, ignore_index=True)
        table[["variant", *table.columns.drop("variant")]].to_csv(trials, index=False)
    else:
        trials.unlink(missing_ok=True)
    curves = [{"variant": r.variant, **point} for r in results for point in r.curve]
    pd.DataFrame(curves).to_csv(out / "precision_recall.csv", index=False)
    bars = plot_metric_bars(board.table, plotted_columns(k), out / "metric_bars.png")
    pr = plot_precision_recall({r.variant: pd.DataFrame(r.curve) for r in results},
                               out / "precision_recall_at_k.png")
    return Board(best=board.best, markdown=board.markdown(), report_dir=str(out),
                 leaderboard=str(csv), metrics_file=metrics_file, plots=[str(bars), str(pr)],
                 records=board.records())


@flow(name="evaluate")
def evaluate(results: list[TrainedVariant], metric: str,
             direction: Literal["maximize", "minimize"], k: int, report_dir: str,
             metrics_file: str = "metrics.json") -> Board:
    """Rank the variants by ``metric``; write the evaluation report, plots and ``metrics.json``."""
    if not results:
        raise RuntimeError("no variant was trained: nothing to evaluate")
    board: Board = leaderboard_task(results, metric, direction, k, report_dir, metrics_file)
    return board
