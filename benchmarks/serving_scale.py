"""Engine time of ``POST /recommend`` for the champion of a large run (issue 16: a 62k-movie
model answers in <= 5 ms of engine time).

    .venv/bin/python benchmarks/serving_scale.py --project DIR --dataset NAME [--requests 3000]

``DIR`` is a project folder a `movierec run --dataset NAME` left (``mlflow.db``, the
processed tables under ``data/processed``; `benchmarks/scale.py` leaves one per size). The
service's own engine (``bentos.service.build_engine``: the registered champion, the items
table, catalogue availability from ``$MOVIEREC_DATA_MIRROR/streaming``) is built there and
timed in process, as ``benchmarks/serving.py`` times ML-100K's, for requests by users drawn
from the training data, beside the same measurement of the ML-100K champion that `make run`
leaves in this checkout when there is one. Prints a Markdown table; nothing is written.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd
import psutil
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from serving import in_process  # noqa: E402


def measure(project: Path, dataset: str, requests: int) -> tuple[float, float, float, float]:
    """(engine p50 ms, engine p99 ms, ranking p50 ms, build seconds) in ``project``."""
    params = yaml.safe_load((project / "params.yaml").read_text())
    params["data"]["dataset"] = dataset
    users = pd.read_parquet(project / "data" / "processed" / dataset / "ratings.parquet",
                            columns=["user_id"])["user_id"].unique().tolist()
    with tempfile.TemporaryDirectory(prefix="movierec-serving-scale-") as tmp:
        path = Path(tmp) / "params.yaml"
        path.write_text(yaml.safe_dump(params))
        env = {"MLFLOW_TRACKING_URI": f"sqlite:///{project / 'mlflow.db'}",
               "MOVIEREC_INFERENCE_LOG": str(Path(tmp) / "log.jsonl")}
        cwd = Path.cwd()
        os.chdir(project)
        try:
            start = time.perf_counter()
            parts = in_process(env, requests, params=path, user_ids=users)
            seconds = time.perf_counter() - start
        finally:
            os.chdir(cwd)
    return parts.engine, parts.engine_p99, parts.ranking, seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--project", type=Path, required=True)
    parser.add_argument("--dataset", required=True)
    parser.add_argument("--requests", type=int, default=3000)
    args = parser.parse_args()
    rows = [(args.dataset, *measure(args.project.resolve(), args.dataset, args.requests))]
    rss = psutil.Process().memory_info().rss / 1e9
    if (ROOT / "mlflow.db").is_file():
        rows.append(("ml-100k (make run)", *measure(ROOT, "ml-100k", args.requests)))
    print("| champion of | engine p50 ms | engine p99 ms | ranking p50 ms | build + timing s |")
    print("|---|--:|--:|--:|--:|")
    for name, p50, p99, ranking, seconds in rows:
        print(f"| {name} | {p50:.3f} | {p99:.3f} | {ranking:.3f} | {seconds:.0f} |")
    print(f"\nprocess RSS after the large engine: {rss:.2f} GB")


if __name__ == "__main__":
    main()
