"""Drift simulation benchmark: ``benchmarks/results/drift-simulation.md`` (+ ``.png``).

Each run replays one dataset in time order under the four retraining policies and runs the
trigger checks (20 reference-like batches, 4 injected shifts), then saves its result;
``--report`` assembles every saved run into the markdown and the plot::

    python benchmarks/drift_simulation.py run --dataset ml-100k --model ease --seed 0
    python benchmarks/drift_simulation.py run --dataset ml-100k --model ease --seed 1
    python benchmarks/drift_simulation.py run --dataset ml-latest-small --model ease \\
        --span-days 365 --initial-spans 4 --seed 0
    python benchmarks/drift_simulation.py report

Needs the prepared tables (``movierec data fetch/prepare --dataset D``).
"""

from __future__ import annotations

import argparse
import pickle
import time
from pathlib import Path

import pandas as pd

from recsys.data.interactions import load_processed
from recsys.monitoring.drift import MonitorConfig
from recsys.monitoring.simulation import fitter, simulate, trigger_checks
from recsys.monitoring.simulation_report import write_report
from recsys.params import load

RUNS = Path("reports/drift-simulation/runs")
OUT = Path("benchmarks/results/drift-simulation.md")


def run(args: argparse.Namespace) -> None:
    ratings, items, _ = load_processed(args.dataset, Path(args.processed_dir))
    params = load(args.params).train.model_settings(args.model)
    config = MonitorConfig.from_params(args.params, span_days=args.span_days)
    start = time.perf_counter()
    # EASE on ml-latest-small's 9k movies holds a 0.6 GB matrix per fit: remember fewer
    fit = fitter(args.model, params, items, keep=args.keep)
    checks = trigger_checks(ratings, items, fit=fit, initial_spans=args.initial_spans,
                            config=config, seed=args.seed)
    checks_seconds = time.perf_counter() - start
    result = simulate(ratings, items, dataset=args.dataset, model=args.model, params=params,
                      initial_spans=args.initial_spans, config=config, seed=args.seed, fit=fit)
    result.settings["seconds"] = {"checks": round(checks_seconds),
                                  "replay": round(time.perf_counter() - start - checks_seconds)}
    RUNS.mkdir(parents=True, exist_ok=True)
    path = RUNS / f"{args.dataset}-{args.model}-seed{args.seed}.pkl"
    path.write_bytes(pickle.dumps((result, checks)))
    print(result.as_json(), f"-> {path}")


def report(args: argparse.Namespace) -> None:
    runs = [pickle.loads(p.read_bytes()) for p in sorted(RUNS.glob("*.pkl"))]
    runs.sort(key=lambda r: (r[0].dataset != "ml-100k", r[0].dataset, r[0].settings["seed"]))
    write_report([(r, c if isinstance(c, pd.DataFrame) else None) for r, c in runs], OUT,
                 OUT.with_suffix(".png"), command="python benchmarks/drift_simulation.py")
    print(f"{len(runs)} run(s) -> {OUT}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    one = sub.add_parser("run")
    one.add_argument("--dataset", default="ml-100k")
    one.add_argument("--model", default="ease")
    one.add_argument("--span-days", type=float, default=7.0)
    one.add_argument("--initial-spans", type=int, default=8)
    one.add_argument("--seed", type=int, default=0)
    one.add_argument("--keep", type=int, default=8, help="fits remembered")
    one.add_argument("--params", default="params.yaml")
    one.add_argument("--processed-dir", default="data/processed")
    sub.add_parser("report")
    args = parser.parse_args()
    (run if args.command == "run" else report)(args)


if __name__ == "__main__":
    main()
