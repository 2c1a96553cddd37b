"""Sparse EASE against exact EASE^R where both fit: NDCG@10 on the same split, fit time and
model size (non-zeros). Writes benchmarks/results/sparse_ease.md.

    python benchmarks/sparse_ease.py --dataset ml-100k --dataset ml-latest-small \
        --synthetic 1000000
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import pandas as pd

from recsys.data.fetch import fetch
from recsys.data.prepare import canonical_ratings, prepare
from recsys.data.synth import SynthConfig, write_synthetic
from recsys.evaluation.evaluate import fit_and_evaluate
from recsys.evaluation.splits import split_ratings

RESULTS = Path(__file__).parent / "results" / "sparse_ease.md"


def _ratings_of(dataset: str, root: Path) -> pd.DataFrame:
    source = os.environ.get("MOVIEREC_DATA_MIRROR")
    fetch(dataset, cache_dir=root / "raw", source=source)
    return prepare(dataset, raw_dir=root / "raw", out_dir=root / "processed").ratings


def _synthetic(n: int, root: Path) -> pd.DataFrame:

    folder = write_synthetic(root / f"synth-{n}", SynthConfig(n_ratings=n, seed=0)).folder
    frame = pd.read_csv(folder / "ratings.csv")
    frame.columns = ["user_id", "item_id", "rating", "timestamp"]
    return canonical_ratings(frame)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--dataset", action="append", default=[])
    parser.add_argument("--synthetic", type=int, action="append", default=[])
    parser.add_argument("--neighbors", type=int, action="append", default=[])
    parser.add_argument("--regularization", type=float, default=500.0)
    args = parser.parse_args()
    neighbours = args.neighbors or [100, 200]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        sets = [(d, lambda d=d: _ratings_of(d, Path(tmp))) for d in args.dataset]
        sets += [(f"synthetic {n:,}", lambda n=n: _synthetic(n, Path(tmp))) for n in args.synthetic]
        for label, load in sets:
            ratings = load()
            split = split_ratings(ratings, seed=42)
            variants = [("ease", {"regularization": args.regularization})]
            variants += [("sparse_ease", {"regularization": args.regularization, "neighbors": k})
                         for k in neighbours]
            exact = None
            for name, params in variants:
                start = time.perf_counter()
                model, metrics = fit_and_evaluate(name, params, split.train, split.test, None)
                seconds = time.perf_counter() - start
                weights = model.weights_  # type: ignore[attr-defined]
                nnz = int(weights.nnz) if hasattr(weights, "nnz") else int(weights.size)
                ndcg = metrics["ndcg_at_10"]
                exact = ndcg if name == "ease" else exact
                rows.append({"data": label, "model": name, "neighbors": params.get("neighbors", "all"),
                             "ndcg_at_10": round(ndcg, 4),
                             "vs_exact": f"{(ndcg / exact - 1) * 100:+.2f}%" if exact else "",
                             "weights": f"{nnz:,}", "fit+eval s": round(seconds, 1)})
                print(rows[-1], flush=True)
    table = pd.DataFrame(rows).to_markdown(index=False)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(
        "# Sparse EASE against exact EASE^R\n\n"
        f"`python benchmarks/sparse_ease.py` (regularization {args.regularization:g}, "
        "ms-stratified split seed 42, binary feedback). Shared 2-core machine: times are "
        "indicative only.\n\n" + table + "\n")
    print(table)


if __name__ == "__main__":
    main()
