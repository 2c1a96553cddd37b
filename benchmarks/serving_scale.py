"""Engine time of ``POST /recommend`` for the champion of a large run (issue 16: a 62k-movie
model answers in <= 5 ms of engine time).

    .venv/bin/python benchmarks/serving_scale.py --project DIR --dataset NAME [--requests 3000]

``DIR`` is a project folder a `movierec run --dataset NAME` left (``mlflow.db``, the
processed tables under ``data/processed``; `benchmarks/scale.py` leaves one per size). The
service's own engine (``bentos.service.build_engine``: the registered champion, the items
table, catalogue availability from ``$MOVIEREC_DATA_MIRROR/streaming``) is built there and
``engine.recommend(user, 10)`` is timed in process for ``--requests`` distinct users drawn
from the training data: first each user's first request (its ranked list is computed then,
when the model has more users than the service precomputes), then the same users again
(their lists cached). Beside it, the same two measurements of the ML-100K champion that
`make run` leaves in this checkout, when there is one. Prints a Markdown table; nothing is
written.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import psutil
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from serving import engine_without_log  # noqa: E402

from recsys.serving.engine import RecommendationEngine  # noqa: E402


@dataclass(frozen=True)
class Timing:
    """Engine milliseconds of a user's first and repeated requests, and the build time."""

    first_p50: float
    first_p99: float
    again_p50: float
    again_p99: float
    precomputed: bool
    build_seconds: float


def measure(project: Path, dataset: str, requests: int) -> Timing:
    """Time the engine of ``project``'s champion for ``requests`` distinct users."""
    params = yaml.safe_load((project / "params.yaml").read_text())
    params["data"]["dataset"] = dataset
    users = pd.read_parquet(project / "data" / "processed" / dataset / "ratings.parquet",
                            columns=["user_id"])["user_id"].unique()
    chosen = np.random.default_rng(0).choice(users, min(requests, len(users)), replace=False)
    with tempfile.TemporaryDirectory(prefix="movierec-serving-scale-") as tmp:
        path = Path(tmp) / "params.yaml"
        path.write_text(yaml.safe_dump(params))
        env = {"MLFLOW_TRACKING_URI": f"sqlite:///{project / 'mlflow.db'}",
               "MOVIEREC_INFERENCE_LOG": str(Path(tmp) / "log.jsonl")}
        cwd = Path.cwd()
        os.chdir(project)
        try:
            start = time.perf_counter()
            engine = engine_without_log(env, path)
            build = time.perf_counter() - start
        finally:
            os.chdir(cwd)
    lists = engine.served.lists
    precomputed = all(int(u) in lists._lists for u in chosen)
    first, again = (_engine_ms(engine, chosen) for _ in range(2))
    return Timing(float(np.percentile(first, 50)), float(np.percentile(first, 99)),
                  float(np.percentile(again, 50)), float(np.percentile(again, 99)),
                  precomputed, build)


def _engine_ms(engine: RecommendationEngine, users: np.ndarray) -> list[float]:
    times = []
    for user in users.tolist():
        t0 = time.perf_counter()
        engine.recommend(int(user), 10)
        times.append((time.perf_counter() - t0) * 1000)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--project", type=Path, required=True)
    parser.add_argument("--dataset", required=True)
    parser.add_argument("--requests", type=int, default=3000)
    args = parser.parse_args()
    rows = [(args.dataset, measure(args.project.resolve(), args.dataset, args.requests))]
    rss = psutil.Process().memory_info().rss / 1e9
    if (ROOT / "mlflow.db").is_file():
        rows.append(("ml-100k (make run)", measure(ROOT, "ml-100k", args.requests)))
    print("| champion of | lists | first request p50 ms | p99 ms | again p50 ms | p99 ms "
          "| build s |")
    print("|---|---|--:|--:|--:|--:|--:|")
    for name, t in rows:
        lists = "precomputed" if t.precomputed else "on first use"
        print(f"| {name} | {lists} | {t.first_p50:.2f} | {t.first_p99:.2f} | {t.again_p50:.2f} "
              f"| {t.again_p99:.2f} | {t.build_seconds:.0f} |")
    print(f"\nprocess RSS after the large engine: {rss:.2f} GB")


if __name__ == "__main__":
    main()
