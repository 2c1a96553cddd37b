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
(their lists cached). Then ``engine.similar_items`` for as many distinct movies (after one
warm-up call, which builds the similarity index) and ``engine.recommend_new_user`` with five
liked movies drawn at random. Beside it, the same measurements of the ML-100K champion that
`make run` leaves in this checkout, when there is one. Prints a Markdown table; nothing is
written.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
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


@dataclass(frozen=True)
class Timing:
    """Engine milliseconds (p50, p99) per endpoint, and the build time."""

    first: tuple[float, float]
    again: tuple[float, float]
    similar: tuple[float, float]
    new_user: tuple[float, float]
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
    first, again = (_p50_p99(engine.recommend, [(int(u), 10) for u in chosen])
                    for _ in range(2))
    rng = np.random.default_rng(1)
    movies = engine.recommender.items_.ids
    queries = rng.choice(movies, min(requests, len(movies)), replace=False).tolist()
    engine.similar_items(int(movies[0]), 10)
    similar = _p50_p99(engine.similar_items, [(int(m), 10) for m in queries])
    liked = [([int(m) for m in rng.choice(movies, 5, replace=False)], 10) for _ in queries]
    new_user = _p50_p99(engine.recommend_new_user, liked)
    return Timing(first, again, similar, new_user, precomputed, build)


def _p50_p99(call: Callable[..., object], calls: Sequence[tuple[object, ...]]
             ) -> tuple[float, float]:
    """Median and 99th percentile milliseconds of ``call(*args)`` over ``calls``."""
    times = []
    for args in calls:
        t0 = time.perf_counter()
        call(*args)
        times.append((time.perf_counter() - t0) * 1000)
    return float(np.percentile(times, 50)), float(np.percentile(times, 99))


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
    print("| champion of | ranked lists | /recommend, user's first request | again "
          "| /similar_items | /recommend_new_user | engine build s |")
    print("|---|---|--:|--:|--:|--:|--:|")
    for name, t in rows:
        lists = "precomputed" if t.precomputed else "on first use"
        cells = " | ".join(f"{p50:.2f} / {p99:.2f} ms"
                           for p50, p99 in (t.first, t.again, t.similar, t.new_user))
        print(f"| {name} | {lists} | {cells} | {t.build_seconds:.0f} |")
    print("\n(p50 / p99 of engine time)")
    print(f"\nprocess RSS after the large engine: {rss:.2f} GB")


if __name__ == "__main__":
    main()
