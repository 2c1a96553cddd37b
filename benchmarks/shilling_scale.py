"""The shilling filter on other and larger data: flagged share with no attack, and detection
of attacks injected into a synthetic set, for the shipped reference classifier (trained on
ML-100K) and the per-dataset calibration (``recsys.shilling.calibration``). Writes
benchmarks/results/shilling-scale.md.

    python benchmarks/shilling_scale.py --dataset ml-latest-small --synthetic 1000000
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from recsys.data.fetch import fetch
from recsys.data.prepare import canonical_ratings, prepare
from recsys.data.schema import RATING_COLUMNS
from recsys.data.synth import SynthConfig, write_synthetic
from recsys.shilling.attacks import RatingStats, generate_attack
from recsys.shilling.filter import score_users

RESULTS = Path(__file__).parent / "results" / "shilling-scale.md"
#: Attacks injected together into the synthetic set: (kind, size, filler), sizes as a share
#: of the genuine users and of the rated items.
ATTACKS = (("average", 0.01, 0.03), ("bandwagon", 0.01, 0.03), ("random", 0.01, 0.05),
           ("segment", 0.005, 0.03))


def _real(dataset: str, root: Path) -> pd.DataFrame:
    fetch(dataset, cache_dir=root / "raw", source=os.environ.get("MOVIEREC_DATA_MIRROR"))
    return prepare(dataset, raw_dir=root / "raw", out_dir=root / "processed").ratings


def _synthetic(n: int, root: Path) -> pd.DataFrame:

    folder = write_synthetic(root / f"synth-{n}", SynthConfig(n_ratings=n, seed=0)).folder
    frame = pd.read_csv(folder / "ratings.csv")
    frame.columns = list(RATING_COLUMNS)
    return canonical_ratings(frame)


def _poisoned(ratings: pd.DataFrame, seed: int) -> tuple[pd.DataFrame, set[int]]:
    stats = RatingStats.from_ratings(ratings)
    rng = np.random.default_rng(seed)
    targets = rng.choice(stats.item_ids[stats.item_count >= 20], len(ATTACKS), replace=False)
    next_id = stats.max_user_id + 1
    fakes, fake_users = [], set()
    for (kind, size, filler), target in zip(ATTACKS, targets, strict=True):
        attack = generate_attack(ratings, kind, size=size, filler=filler, targets=int(target),
                                 seed=seed, stats=stats, first_user_id=next_id)
        next_id += len(attack.truth)
        fakes.append(attack.fake_ratings.loc[:, list(RATING_COLUMNS)])
        fake_users |= {int(u) for u in attack.fake_users}
    return pd.concat([ratings, *fakes], ignore_index=True), fake_users


def _row(label: str, calibration: str, ratings: pd.DataFrame, fakes: set[int]) -> dict[str, object]:
    start = time.perf_counter()
    scores = score_users(ratings, calibration=calibration, seed=0)
    seconds = time.perf_counter() - start
    flagged = set(scores.loc[scores["flagged"], "user_id"].astype(int))
    genuine = scores["user_id"].nunique() - len(fakes)
    row: dict[str, object] = {
        "data": label, "calibration": calibration, "users": f"{scores['user_id'].nunique():,}",
        "genuine flagged": f"{len(flagged - fakes):,} ({len(flagged - fakes) / genuine:.2%})",
    }
    if fakes:
        tp = len(flagged & fakes)
        precision = tp / len(flagged) if flagged else 0.0
        recall = tp / len(fakes)
        f1 = 2 * precision * recall / (precision + recall) if tp else 0.0
        row.update({"fakes": len(fakes), "precision": round(precision, 3),
                    "recall": round(recall, 3), "F1": round(f1, 3)})
    row["seconds"] = round(seconds)
    print(row, flush=True)
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--dataset", action="append", default=[])
    parser.add_argument("--synthetic", type=int, action="append", default=[])
    parser.add_argument("--calibration", action="append", default=[])
    parser.add_argument("--attack-seed", type=int, action="append", default=[],
                        help="seed of the injected attacks' targets and profiles (repeatable; default 1)")
    args = parser.parse_args()
    attack_seeds = args.attack_seed or [1]
    calibrations = args.calibration or ["reference", "dataset"]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        for dataset in args.dataset:
            ratings = _real(dataset, root)
            rows += [_row(dataset, c, ratings, set()) for c in calibrations]
        for n in args.synthetic:
            ratings = _synthetic(n, root)
            label = f"synthetic {n:,}"
            rows += [_row(label, c, ratings, set()) for c in calibrations]
            for seed in attack_seeds:
                poisoned, fakes = _poisoned(ratings, seed=seed)
                rows += [_row(f"{label} + attacks (seed {seed})", c, poisoned, fakes)
                         for c in calibrations]
    attacks = ", ".join(f"{k} {s:.1%} of users, filler {f:.0%}" for k, s, f in ATTACKS)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(
        "# Shilling filter on other and larger data\n\n"
        "`python benchmarks/shilling_scale.py` (ensemble detector, threshold 0.5). "
        f"Attacks injected together into the synthetic set: {attacks}; targets drawn among "
        f"movies with 20+ ratings (attack seeds {', '.join(map(str, attack_seeds))}). Shared 2-core "
        "machine: times are indicative.\n\n"
        + pd.DataFrame(rows).fillna("").to_markdown(index=False) + "\n")


if __name__ == "__main__":
    main()
