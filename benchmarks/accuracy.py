"""Accuracy benchmark: every model variant on ML-100K (or ``--dataset``, e.g.
ml-latest-small) under the ``ms-stratified`` protocol.

Writes ``benchmarks/results/accuracy-<dataset>.md`` (every metric, fit and recommend time per
variant, beside peer-library rows on the same split, on ML-100K the published rows of the
same protocol, the machine and the date, and a Targets section) and
``accuracy-<dataset>.png`` (NDCG@10 against fit time).

Each variant runs in its own subprocess with a time limit, so a model that fails to import,
crashes or runs too long is reported and the others still run. Model parameters come from
the ``train`` section of ``params.yaml``. Peer libraries (Surprise SVD and SVD++, implicit
ALS and BPR, the optional ``bench`` dependency group) run when importable and are noted
"not installed" otherwise (``accuracy_peers.py``); ``accuracy_report.py`` writes the report.

Usage::

    .venv/bin/python benchmarks/accuracy.py [--dataset ml-latest-small] [--mirror ../shared/data]
        [--models a,b]
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import pandas as pd  # noqa: E402
from accuracy_peers import PEERS, run_peer  # noqa: E402
from accuracy_report import PROTOCOL, write_report  # noqa: E402

from recsys.data.fetch import fetch  # noqa: E402  (after the path set-up)
from recsys.data.interactions import load_processed  # noqa: E402
from recsys.data.prepare import prepare  # noqa: E402
from recsys.evaluation.evaluate import fit_and_evaluate  # noqa: E402
from recsys.evaluation.splits import split_ratings  # noqa: E402
from recsys.models import VARIANTS  # noqa: E402
from recsys.params import load  # noqa: E402

#: Non-default configurations of a variant, reported beside (not among) the 13 defaults:
#: label -> (variant, parameters replacing its ``params.yaml`` entry).
OPTIONS: dict[str, tuple[str, dict[str, Any]]] = {
    "ease, class defaults (EASE^R)": ("ease", {}),
    "ease, diagonal=free (DLAE)": (
        "ease", {"regularization": 500.0, "dropout": 0.5, "diagonal": "free"}),
}
#: The strongest rankers, re-run on other split seeds to show how much a figure moves with
#: the draw of the test ratings.
SEED_VARIANTS = [
    "ease", "ials", "hybrid", "ease, class defaults (EASE^R)", "ease, diagonal=free (DLAE)",
]


# -- data -----------------------------------------------------------------------------------
def prepare_data(dataset: str, mirror: Path, data_dir: Path) -> Path:
    """Fetch ``dataset`` from ``mirror`` and prepare it with the project's own code."""
    fetch(dataset, cache_dir=data_dir / "raw", source=mirror)
    tables = prepare(dataset, raw_dir=data_dir / "raw", out_dir=data_dir / "processed")
    return tables.folder.parent


def load_split(dataset: str, processed: Path, seed: int
               ) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """(train ratings, test ratings, items) of the benchmark's split with ``seed``."""
    ratings, items, _ = load_processed(dataset, processed)
    split = split_ratings(ratings, PROTOCOL, seed=seed)
    return split.train, split.test, items


# -- workers (run inside a subprocess) ------------------------------------------------------
def run_model(name: str, train: pd.DataFrame, test: pd.DataFrame, items: pd.DataFrame,
              k: int, seed: int, params: dict[str, Any] | None = None) -> dict[str, float]:
    """Fit variant ``name`` (``params``, else its ``params.yaml`` entry) and evaluate it."""
    if params is None:
        params = load(ROOT / "params.yaml").train.model_settings(name)
    _, result = fit_and_evaluate(name, params, train, test, items, k=k, seed=seed)
    return result


def worker_main(args: argparse.Namespace) -> None:
    """Run one variant and print its metrics as the last line of stdout (JSON)."""
    name = args.worker
    train, test, items = load_split(args.dataset, Path(args.processed), args.seed)
    try:
        if name in PEERS:
            result = run_peer(name, train, test, items, args.k, args.seed)
        else:
            params = json.loads(args.params) if args.params else None
            result = run_model(name, train, test, items, args.k, args.seed, params)
        payload: dict[str, Any] = {"status": "ok", "metrics": result}
    except ImportError as exc:
        payload = {"status": f"not importable: {exc}"}
    print(json.dumps(payload, default=float))


# -- orchestration --------------------------------------------------------------------------
def run_variant(dataset: str, name: str, processed: Path, k: int, seed: int, timeout: float,
                params: dict[str, Any] | None = None) -> dict[str, Any]:
    """Run ``name`` (a variant or a peer) in a worker process limited to ``timeout`` s."""
    cmd = [sys.executable, str(Path(__file__).resolve()), "--worker", name, "--processed",
           str(processed), "--k", str(k), "--seed", str(seed), "--dataset", dataset]
    if params is not None:
        cmd += ["--params", json.dumps(params)]
    start = time.perf_counter()
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd=ROOT,
                              env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3",
                                   "PYTHONPATH": os.pathsep.join(
                                       p for p in (str(ROOT), os.environ.get("PYTHONPATH"))
                                       if p)})
    except subprocess.TimeoutExpired:
        return {"status": f"timed out after {timeout:.0f} s", "wall": time.perf_counter() - start}
    wall = time.perf_counter() - start
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if done.returncode != 0 or not lines:
        tail = (done.stderr.strip().splitlines() or ["no output"])[-1]
        return {"status": f"failed: {tail[:160]}", "wall": wall}
    payload = json.loads(lines[-1])
    payload["wall"] = wall
    return payload


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--dataset", default="ml-100k",
                        help="registry name (e.g. ml-latest-small); results go to "
                             "benchmarks/results/accuracy-<dataset>.*")
    parser.add_argument("--mirror", type=Path, default=ROOT.parent / "shared" / "data")
    parser.add_argument("--data-dir", type=Path, default=None,
                        help="where to fetch/prepare (default: a temporary folder)")
    parser.add_argument("--models", default=None, help="comma-separated subset of variants")
    parser.add_argument("--no-peers", action="store_true")
    parser.add_argument("--timeout", type=float, default=300.0, help="seconds per variant")
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--seeds", default="1,7,3",
                        help="other split seeds for the split-seed table ('' to skip)")
    parser.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--params", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--processed", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker_main(args)
        return
    names = args.models.split(",") if args.models else list(VARIANTS)
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="movierec-bench-") as tmp:
        data_dir = args.data_dir or Path(tmp)
        processed = prepare_data(args.dataset, args.mirror, data_dir)
        ours: list[dict[str, Any]] = []
        for name in names:
            print(f"[accuracy] {name} ...", file=sys.stderr, flush=True)
            row = run_variant(args.dataset, name, processed, args.k, args.seed, args.timeout)
            row["variant"] = name
            ours.append(row)
            print(f"[accuracy] {name}: {row['status']} "
                  f"{json.dumps(row.get('metrics', {}), default=float)[:200]}",
                  file=sys.stderr, flush=True)
        options: list[dict[str, Any]] = []
        for label, (name, params) in ({} if args.models else OPTIONS).items():
            print(f"[accuracy] {label} ...", file=sys.stderr, flush=True)
            row = run_variant(args.dataset, name, processed, args.k, args.seed, args.timeout, params)
            row["variant"] = label
            options.append(row)
        seeds = [int(s) for s in args.seeds.split(",") if s.strip()]
        by_seed: dict[str, dict[int, float]] = {}
        for label in [] if args.models else SEED_VARIANTS:
            seed_params: dict[str, Any] | None
            name, seed_params = OPTIONS.get(label, (label, None))
            first = next(r for r in ours + options if r["variant"] == label)
            by_seed[label] = {args.seed: first.get("metrics", {}).get("ndcg_at_10", float("nan"))}
            for seed in seeds:
                print(f"[accuracy] {label}, split seed {seed} ...", file=sys.stderr, flush=True)
                row = run_variant(args.dataset, name, processed, args.k, seed, args.timeout, seed_params)
                by_seed[label][seed] = row.get("metrics", {}).get("ndcg_at_10", float("nan"))
        peers: list[dict[str, Any]] = []
        for name, (module, label) in ({} if args.no_peers else PEERS).items():
            if importlib.util.find_spec(module) is None:
                peers.append({"variant": label, "status": f"not installed ({module}; "
                              "`uv sync --group bench`)"})
                continue
            print(f"[accuracy] {label} ...", file=sys.stderr, flush=True)
            row = run_variant(args.dataset, name, processed, args.k, args.seed, args.timeout)
            row["variant"] = label
            peers.append(row)
    report = write_report(args.dataset, ours, peers, time.perf_counter() - start, args, options,
                          {label: params for label, (_, params) in OPTIONS.items()}, by_seed)
    print(f"wrote {report.relative_to(ROOT)} and its .json and .png", file=sys.stderr)


if __name__ == "__main__":
    main()
