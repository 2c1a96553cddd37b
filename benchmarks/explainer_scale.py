"""Start-up and request cost of ``because`` for a champion with no item-item weights or
dense item vectors (popularity, baseline, the content models) at 62k movies.

    .venv/bin/python benchmarks/explainer_scale.py [--folder DIR] [--requests 300] [--table]

Generates (once, into ``DIR``) the synthetic 25M set of ``recsys.data.synth`` (162,541
users, 62,423 movies), fits ``popularity`` on it, then times ``Explainer(model)`` (what the
engine builds at start-up) and ``because`` for ``--requests`` random users, each with the
ten most popular movies they have not rated (what a popularity champion recommends).
``--table`` also times the eager top-50 table over every movie that the explainer built at
start-up before. Prints the figures; nothing is written besides the generated set.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import psutil
from scipy import sparse

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from recsys.data.interactions import Interactions  # noqa: E402
from recsys.data.synth import SynthConfig, write_synthetic  # noqa: E402
from recsys.models import create  # noqa: E402
from recsys.models.item_knn import top_n_similarities  # noqa: E402
from recsys.serving.explain import FALLBACK_NEIGHBOURS, Explainer  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--folder", type=Path, default=Path("/tmp/movierec-synth-25m"))
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--table", action="store_true")
    args = parser.parse_args()
    if not (args.folder / "ratings.csv").is_file():
        write_synthetic(args.folder, SynthConfig())
    ratings = pd.read_csv(args.folder / "ratings.csv")
    ratings.columns = ["user_id", "item_id", "rating", "timestamp"]
    model = create("popularity").fit(Interactions.from_frame(ratings))
    print(f"{len(ratings):,} ratings, {model.seen_.shape[0]:,} users, "
          f"{model.seen_.shape[1]:,} movies")
    del ratings
    process = psutil.Process()
    before = process.memory_info().rss
    start = time.perf_counter()
    explainer = Explainer(model)
    print(f"explainer built in {time.perf_counter() - start:.2f} s, "
          f"+{(process.memory_info().rss - before) / 1e9:.2f} GB")
    popular = np.argsort(-np.diff(sparse.csc_matrix(model.seen_).indptr), kind="stable")[:500]
    rng = np.random.default_rng(0)
    times = []
    for user in rng.choice(model.seen_.shape[0], args.requests, replace=False):
        history, weights = explainer.history(int(user))
        recommended = popular[~np.isin(popular, history)][:10].astype(np.int64)
        start = time.perf_counter()
        explainer.because(history, weights, recommended)
        times.append((time.perf_counter() - start) * 1000)
    ms = np.array(times)
    print(f"because, {args.requests} users: first request {ms[0]:.0f} ms, first ten max "
          f"{ms[:10].max():.0f} ms; p50 {np.median(ms):.2f} ms, p99 {np.percentile(ms, 99):.0f} "
          f"ms; last half p50 {np.median(ms[len(ms) // 2:]):.2f} / p99 "
          f"{np.percentile(ms[len(ms) // 2:], 99):.2f} ms; movies kept "
          f"{len(explainer._neighbours or ())}; "
          f"+{(process.memory_info().rss - before) / 1e9:.2f} GB")
    if args.table:
        start = time.perf_counter()
        top_n_similarities(sparse.csr_matrix(model.seen_.T, dtype=np.float64),
                           FALLBACK_NEIGHBOURS)
        print(f"eager top-{FALLBACK_NEIGHBOURS} table over every movie: "
              f"{time.perf_counter() - start:.1f} s")


if __name__ == "__main__":
    main()
