"""Hindsight matrices for the on-drift rule: which batches a retrain pays on.

``matrix`` fits the champion's variant at every batch boundary of a replay (as
``recsys.monitoring.simulation.simulate`` cuts it) and scores each fit on every later batch
as served (users who rated since the fit from their whole history),
with the on-drift signals of each (fit, batch) pair: the unlearnt ratings since the fit
(``recsys.monitoring.staleness``) and the drifted like-with-like statistics
(``recsys.monitoring.trigger``). Any retraining schedule's mean NDCG@10 is then a look-up,
so ``replay`` compares in seconds the rule of the ``monitor:`` section (its retrain budget
and ``drift_min_spans``; ``--drift-min-spans 0`` is the rule before it) with the best
schedule of at most half the retrains chosen in hindsight::

    python benchmarks/drift_hindsight.py matrix --dataset ml-100k --span-days 7 --initial-spans 8
    python benchmarks/drift_hindsight.py matrix --dataset ml-latest-small --span-days 365 \\
        --initial-spans 4
    python benchmarks/drift_hindsight.py replay

Needs the prepared tables (``movierec data fetch/prepare --dataset D``). The refresh gap is
left out (it needs every fit's fold-ins; the on-drift rule does not use it).
"""

from __future__ import annotations

import argparse
import json
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np

from recsys.data.interactions import load_processed
from recsys.data.schema import TIMESTAMP
from recsys.monitoring.budget import RetrainBudget, drift_is_urgent
from recsys.monitoring.drift import MonitorConfig
from recsys.monitoring.features import first_genre
from recsys.monitoring.replay_span import replay_spans
from recsys.monitoring.simulation import batch_ndcg, fitter, served_histories
from recsys.monitoring.staleness import unlearnt_rows
from recsys.monitoring.trigger import calibrate, score_batch
from recsys.params import load

OUT = Path("reports/drift-simulation/hindsight")


def matrix(args: argparse.Namespace) -> None:
    ratings, items, _ = load_processed(args.dataset, Path(args.processed_dir))
    params = load(args.params).train.model_settings(args.model)
    config = MonitorConfig.from_params(args.params, span_days=args.span_days)
    fit = fitter(args.model, params, items, keep=1)
    genre = first_genre(items)
    ordered = ratings.sort_values(TIMESTAMP, kind="stable").reset_index(drop=True)
    span = replay_spans(ordered, config.span_days)
    numbers = sorted(int(s) for s in span.unique() if s >= args.initial_spans)
    pairs: list[dict[str, Any]] = []
    # a fit at boundary b has learnt the spans before b: the first, then one after each batch
    for b in [args.initial_spans] + [s + 1 for s in numbers[:-1]]:
        data = ordered[span < b]
        model = fit(data)
        calibration = calibrate(data, genre, span_days=config.span_days,
                                spans=config.calibration_spans, min_rows=config.min_batch_rows)
        for j in (s for s in numbers if s >= b):
            batch = ordered[span == j]
            scores = score_batch(data, batch, calibration, genre, weights=config.column_weights,
                                 z_threshold=config.z_threshold, seed=args.seed)
            pairs.append({
                "fit": b, "batch": j,
                "ndcg": batch_ndcg(model, batch, recent=served_histories(ordered, span, b, j)),
                "unlearnt_spans": unlearnt_rows(data, ordered[(span >= b) & (span <= j)])
                / max(calibration.span_rows, 1.0),
                "drifted": [name for name, score in scores.items() if score.drifted]
                if len(batch) >= config.min_batch_rows else []})
        print(f"fit at span {b}: scored on {sum(p['fit'] == b for p in pairs)} batches")
    out = Path(args.dir)
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"{args.dataset}-{args.model}-{args.span_days:g}d.json"
    path.write_text(json.dumps({"dataset": args.dataset, "model": args.model,
                                "span_days": args.span_days, "batches": numbers,
                                "pairs": pairs}))
    print(f"-> {path}")


class Matrix:
    """A saved matrix: NDCG and signals by (fit boundary, batch)."""

    def __init__(self, data: dict[str, Any]) -> None:
        self.name = f"{data['dataset']} {data['span_days']:g}-day"
        self.batches: list[int] = data["batches"]
        self.pairs = {(p["fit"], p["batch"]): p for p in data["pairs"]}

    def ndcg(self, fit: int, batch: int) -> float:
        return float(self.pairs[(fit, batch)]["ndcg"])

    def share(self, total: float) -> float:
        """``total`` (summed NDCG) as a share of every-batch's gain over never."""
        never = sum(self.ndcg(self.batches[0], j) for j in self.batches)
        every = sum(self.ndcg(j, j) for j in self.batches)
        return (total - never) / (every - never)


def replay_rule(m: Matrix, config: MonitorConfig) -> tuple[float, list[int]]:
    """The on-drift rule of ``simulate`` on the matrix: (summed NDCG, batches retrained on)."""
    budget = RetrainBudget(config.retrain_budget, config.retrain_burst)
    fit, total, picks = m.batches[0], 0.0, []
    for n, j in enumerate(m.batches):
        pair = m.pairs[(fit, j)]
        total += pair["ndcg"]
        stale = pair["unlearnt_spans"] >= config.staleness_spans
        drift = bool(pair["drifted"]) or stale
        urgent = drift_is_urgent(pair["drifted"], pair["unlearnt_spans"], config.drift_min_spans)
        if drift and (urgent or budget.allows()):
            budget.spend()
            if n < len(m.batches) - 1:
                fit = j + 1
                picks.append(j)
        budget.refill(1.0)
    return total, picks


def hindsight(m: Matrix, retrains: int) -> tuple[float, list[int]]:
    """The best schedule of at most ``retrains`` retrains: (summed NDCG, batches)."""
    last = len(m.batches) - 1

    @cache
    def best(n: int, fit: int, left: int) -> tuple[float, tuple[int, ...]]:
        if n > last:
            return 0.0, ()
        j = m.batches[n]
        here = m.ndcg(fit, j)
        keep = best(n + 1, fit, left)
        if left and n < last:
            total, picks = best(n + 1, j + 1, left - 1)
            if total > keep[0]:
                return here + total, (j, *picks)
        return here + keep[0], keep[1]

    total, picks = best(0, m.batches[0], retrains)
    return total, list(picks)


def replay(args: argparse.Namespace) -> None:
    rows = ["| matrix | rule | share of every-batch gain | retrains | batches retrained on |",
            "|---|---|---|---|---|"]
    for path in sorted(Path(args.dir).glob("*.json")):
        m = Matrix(json.loads(path.read_text()))
        decisions = len(m.batches) - 1
        rules = {"monitor section": MonitorConfig.from_params(args.params),
                 "drift_min_spans 0 (before)": MonitorConfig.from_params(
                     args.params, drift_min_spans=0.0)}
        for name, config in rules.items():
            total, picks = replay_rule(m, config)
            rows.append(f"| {m.name} | {name} | {m.share(total):.1%} | "
                        f"{len(picks)} of {decisions} | {', '.join(map(str, picks))} |")
        total, picks = hindsight(m, decisions // 2)
        rows.append(f"| {m.name} | hindsight, at most half | {m.share(total):.1%} | "
                    f"{len(picks)} of {decisions} | {', '.join(map(str, picks))} |")
        print(f"{m.name}: every-batch - never = "
              f"{np.mean([m.ndcg(j, j) - m.ndcg(m.batches[0], j) for j in m.batches]):.4f}")
    print("\n".join(rows))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    one = sub.add_parser("matrix")
    one.add_argument("--dataset", default="ml-100k")
    one.add_argument("--model", default="ease")
    one.add_argument("--span-days", type=float, default=7.0)
    one.add_argument("--initial-spans", type=int, default=8)
    one.add_argument("--seed", type=int, default=0)
    one.add_argument("--params", default="params.yaml")
    one.add_argument("--processed-dir", default="data/processed")
    two = sub.add_parser("replay")
    two.add_argument("--params", default="params.yaml")
    for command in (one, two):
        command.add_argument("--dir", default=str(OUT), help="where the matrices are")
    args = parser.parse_args()
    (matrix if args.command == "matrix" else replay)(args)


if __name__ == "__main__":
    main()
