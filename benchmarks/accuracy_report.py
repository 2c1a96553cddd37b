"""The accuracy benchmark's report: tables, targets, the published rows and the plot.

``write_report`` turns the rows ``accuracy.py`` collected (this project's variants, their
option rows, the peers, NDCG@10 across split seeds) into ``accuracy-<dataset>.md``,
``.json`` and ``.png`` under ``benchmarks/results``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
from pathlib import Path
from typing import Any

import numpy as np
from accuracy_peers import PEERS

from recsys.models.ease import TIMELINE_DLAE

RESULTS = Path(__file__).resolve().parent / "results"
PROTOCOL = "ms-stratified"
#: The issue's second-dataset target: the best variant beats the best peer by this much.
TARGET_PEER_MARGIN = 0.10

#: Microsoft Recommenders, examples/06_benchmarks/movielens.ipynb, ML-100K, the same
#: protocol (python_stratified_split by item, 75/25, seed 42, k = 10, every test rating
#: relevant). Blank cells were not published in the rows we quote.
PUBLISHED: list[dict[str, Any]] = [
    {"variant": "BiVAE (MS Recommenders)", "ndcg_at_10": 0.469, "precision_at_10": 0.408,
     "recall_at_10": 0.221},
    {"variant": "BPR (MS Recommenders)", "ndcg_at_10": 0.445},
    {"variant": "LightGCN (MS Recommenders)", "ndcg_at_10": 0.416},
    {"variant": "SAR (MS Recommenders)", "ndcg_at_10": 0.394},
    {"variant": "NCF (MS Recommenders)", "ndcg_at_10": 0.369},
    {"variant": "Surprise SVD (MS Recommenders)", "rmse": 0.9425, "mae": 0.745},
]

COLUMNS: list[tuple[str, str, int]] = [
    ("precision_at_10", "P@10", 3),
    ("recall_at_10", "R@10", 3),
    ("ndcg_at_10", "NDCG@10", 3),
    ("map_at_10", "MAP@10", 3),
    ("hit_rate_at_10", "HR@10", 3),
    ("mrr", "MRR", 3),
    ("rmse", "RMSE", 4),
    ("mae", "MAE", 4),
    ("coverage", "coverage", 3),
    ("novelty", "novelty", 2),
    ("diversity", "diversity", 3),
    ("fit_seconds", "fit s", 2),
    ("recommend_seconds", "recommend s", 2),
]

TARGET_NDCG = 0.50
TARGET_RMSE = 0.90
TARGET_NCF_NDCG = 0.40
TARGET_TOTAL_FIT_SECONDS = 600.0
N_VARIANTS = 13


def machine() -> str:
    cpu = platform.processor() or "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return (f"{os.cpu_count()} cores, {cpu}, {platform.system()} {platform.release()}, "
            f"Python {platform.python_version()}")


def _cell(value: Any, digits: int) -> str:
    if value is None or (isinstance(value, float) and value != value):
        return ""
    return f"{value:.{digits}f}"


def _table(rows: list[dict[str, Any]], with_status: bool) -> list[str]:
    head = ["variant", *[label for _, label, _ in COLUMNS]] + (["status"] if with_status else [])
    out = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for row in rows:
        metrics = row.get("metrics", row)
        cells = [row["variant"], *[_cell(metrics.get(key), d) for key, _, d in COLUMNS]]
        if with_status:
            cells.append(row.get("status", ""))
        out.append("| " + " | ".join(cells) + " |")
    return out


def _verdict(passed: bool | None) -> str:
    return "n/a" if passed is None else ("PASS" if passed else "FAIL")


def peer_target(ours: list[dict[str, Any]], peers: list[dict[str, Any]]) -> str:
    """The row "best variant beats the best peer by >= 10% NDCG@10"."""
    def best(rows: list[dict[str, Any]]) -> tuple[float, str] | None:
        ranked = [(r["metrics"]["ndcg_at_10"], r["variant"]) for r in rows
                  if r.get("status") == "ok"]
        return max(ranked) if ranked else None

    mine, theirs = best(ours), best(peers)
    if mine is None or theirs is None:
        return (f"| best variant beats the best peer by >= {TARGET_PEER_MARGIN:.0%} NDCG@10 | "
                "no peer or no variant ran | n/a |")
    margin = mine[0] / theirs[0] - 1.0
    return (f"| best variant beats the best peer by >= {TARGET_PEER_MARGIN:.0%} NDCG@10 | "
            f"{mine[0]:.4f} ({mine[1]}) vs {theirs[0]:.4f} ({theirs[1]}): {margin:+.1%} | "
            f"{_verdict(margin >= TARGET_PEER_MARGIN)} |")


def targets(dataset: str, ours: list[dict[str, Any]], peers: list[dict[str, Any]]) -> list[str]:
    ok = [r for r in ours if r.get("status") == "ok"]
    lines = ["| target | measured | result |", "|---|---|---|", peer_target(ours, peers)]
    if dataset != "ml-100k":  # the absolute targets below are ML-100K's
        return lines
    verdict = _verdict
    ranked = [(r["metrics"]["ndcg_at_10"], r["variant"]) for r in ok]
    best = max(ranked) if ranked else None
    lines.append(f"| best ranking NDCG@10 >= {TARGET_NDCG:.2f} | "
                 f"{f'{best[0]:.3f} ({best[1]})' if best else 'none'} | "
                 f"{verdict(best[0] >= TARGET_NDCG if best else None)} |")
    rated = [(r["metrics"]["rmse"], r["variant"]) for r in ok if "rmse" in r["metrics"]]
    best_rmse = min(rated) if rated else None
    lines.append(f"| best RMSE <= {TARGET_RMSE:.2f} | "
                 f"{f'{best_rmse[0]:.4f} ({best_rmse[1]})' if best_rmse else 'none'} | "
                 f"{verdict(best_rmse[0] <= TARGET_RMSE if best_rmse else None)} |")
    ncf = next((r for r in ok if r["variant"] == "ncf"), None)
    ncf_ndcg = ncf["metrics"]["ndcg_at_10"] if ncf else None
    lines.append(f"| NCF NDCG@10 >= {TARGET_NCF_NDCG:.2f} | "
                 f"{'not run' if ncf_ndcg is None else f'{ncf_ndcg:.3f}'} | "
                 f"{verdict(None if ncf_ndcg is None else ncf_ndcg >= TARGET_NCF_NDCG)} |")
    total = sum(r["metrics"]["fit_seconds"] for r in ok)
    all_ran = len(ok) == N_VARIANTS
    lines.append(f"| all {N_VARIANTS} fit in under {TARGET_TOTAL_FIT_SECONDS / 60:.0f} min "
                 f"(sum of fit times) | {total:.1f} s over {len(ok)} of {N_VARIANTS} variants | "
                 f"{verdict(all_ran and total < TARGET_TOTAL_FIT_SECONDS) if all_ran else 'FAIL (not all variants ran)'} |")
    return lines


def plot(dataset: str, rows: list[dict[str, Any]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 5))
    for row in rows:
        if row.get("status") != "ok":
            continue
        m = row["metrics"]
        peer = row["variant"] in {desc for _, desc in PEERS.values()}
        ax.scatter(max(m["fit_seconds"], 1e-3), m["ndcg_at_10"], marker="s" if peer else "o",
                   color="tab:gray" if peer else "tab:blue")
        ax.annotate(row["variant"], (max(m["fit_seconds"], 1e-3), m["ndcg_at_10"]),
                    textcoords="offset points", xytext=(4, 3), fontsize=8)
    ax.set_xscale("log")
    for pub in PUBLISHED if dataset == "ml-100k" else []:
        if "ndcg_at_10" in pub:
            ax.axhline(pub["ndcg_at_10"], color="tab:orange", lw=0.6, ls="--")
            # x in axes coordinates, y in data: the label sits at the right edge
            ax.text(0.995, pub["ndcg_at_10"], pub["variant"].replace(" (MS Recommenders)",
                    " (published)"), transform=ax.get_yaxis_transform(), ha="right",
                    va="bottom", fontsize=7, color="tab:orange")
    if dataset == "ml-100k":
        ax.axhline(TARGET_NDCG, color="tab:red", lw=0.8)
        ax.text(0.005, TARGET_NDCG, f"target {TARGET_NDCG:.2f}", transform=ax.get_yaxis_transform(),
                va="bottom", fontsize=7, color="tab:red")
    ax.scatter([], [], marker="o", color="tab:blue", label="movierec")
    ax.scatter([], [], marker="s", color="tab:gray", label="peer library")
    ax.legend(loc="lower right", fontsize=8)
    ax.set_xlabel("fit time (s, log scale)")
    ax.set_ylabel("NDCG@10")
    ax.set_title(f"{dataset}, {PROTOCOL} (75/25 by item, seed 42), k=10")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def seed_table(by_seed: dict[str, dict[int, float]]) -> list[str]:
    """NDCG@10 per split seed, with the mean and the sample standard deviation."""

    if not by_seed:
        return ["(not run)"]
    seeds = list(next(iter(by_seed.values())))
    lines = ["| variant | " + " | ".join(f"seed {s}" for s in seeds) + " | mean | sd |",
             "|" + "---|" * (len(seeds) + 3)]
    for label, values in by_seed.items():
        arr = np.array([values[s] for s in seeds], dtype=float)
        cells = [_cell(v, 4) for v in arr]
        mean = float(np.mean(arr))
        sd = float(np.std(arr, ddof=1)) if len(arr) > 1 else float("nan")
        lines.append(f"| {label} | " + " | ".join(cells) + f" | {_cell(mean, 4)} | {_cell(sd, 4)} |")
    return lines


def write_report(dataset: str, ours: list[dict[str, Any]], peers: list[dict[str, Any]],
                 seconds: float, args: argparse.Namespace,
                 options: list[dict[str, Any]], option_params: dict[str, dict[str, Any]],
                 by_seed: dict[str, dict[int, float]]) -> Path:
    """Write ``accuracy-<dataset>.md``, ``.json`` and ``.png`` under ``RESULTS``; returns
    the report's path. ``option_params``: each option row's parameters, by label."""
    report, figure, rows = (RESULTS / f"accuracy-{dataset}.{ext}" for ext in ("md", "png", "json"))
    RESULTS.mkdir(parents=True, exist_ok=True)
    rows.write_text(json.dumps({"ours": ours, "options": options, "peers": peers,
                                "ndcg_at_10_by_split_seed": by_seed},
                               indent=1, default=float) + "\n")
    plot(dataset, ours + peers, figure)
    now = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    lines = [
        f"# Accuracy on {dataset} ({PROTOCOL})",
        "",
        f"- date: {now}",
        f"- machine: {machine()}",
        f"- protocol: `{PROTOCOL}`: Microsoft Recommenders `python_stratified_split` semantics "
        f"(75/25 per item, seed {args.seed}); every test rating is relevant; training items "
        f"excluded from the lists; k = {args.k}. Parameters: `params.yaml` section `train`.",
        "- metrics: MS Recommenders definitions (binary-relevance NDCG, MAP@k divided by "
        "min(|relevant|, k)); coverage = share of the catalogue recommended; novelty = mean "
        "self-information (bits); diversity = 1 - mean pairwise genre cosine per list; "
        "RMSE/MAE only for rating predictors.",
        f"- command: `.venv/bin/python benchmarks/accuracy.py --dataset {dataset}` "
        f"({seconds / 60:.1f} min wall, "
        f"each variant in its own process, {args.timeout:.0f} s limit)",
        "",
        "## This project",
        "",
        *_table(ours, with_status=True),
        "",
        "## Variant options (same split; not among the 13 defaults)",
        "",
        *_table(options, with_status=True),
        "",
        "Parameters: " + "; ".join(f"{label}: `{json.dumps(params)}`"
                                   for label, params in option_params.items()) + ". EASE^R "
        "(Steck 2019) is the closed-form item-item model with a zero diagonal; DLAE "
        "(Steck 2020) drops that constraint and is regularised by the closed form of input "
        "dropout. The `ease` row above is the project's configuration from `params.yaml`, "
        f"timeline DLAE (`{json.dumps(TIMELINE_DLAE)}`, the hybrid's `timeline_ease` "
        "component): DLAE fitted to item co-occurrences weighted by how close together in "
        "each user's time-ordered ratings the two movies were rated and by how much the "
        "user liked them. All parameters were chosen on validation splits carved from the "
        "training data, not on the test ratings.",
        "",
        "## NDCG@10 across split seeds",
        "",
        *seed_table(by_seed),
        "",
        "The same protocol re-drawn with other seeds (the published rows use seed 42 only). "
        "Differences between the strongest rankers smaller than about one standard "
        "deviation are the luck of the draw.",
        "",
        "## Peer libraries (same split, same metric code)",
        "",
        *_table(peers, with_status=True),
        "",
        "Surprise SVD uses the MS notebook's parameters (150 factors, 15 epochs, lr 0.005, "
        "reg 0.02), SVD++ Surprise's defaults; both rank every unseen training item by their "
        "unclipped estimate. implicit ALS and BPR use the library defaults, every training "
        "rating counting as one positive interaction.",
        "",
        *([
            "## Published (Microsoft Recommenders, examples/06_benchmarks/movielens.ipynb, "
            "ML-100K, same protocol)",
            "",
            *_table(PUBLISHED, with_status=False),
            "",
            "MS MAP values are omitted: the notebook's rows used the older `map` (divided by "
            "|relevant|), not MAP@k.",
            "",
        ] if dataset == "ml-100k" else []),
        "## Targets",
        "",
        *targets(dataset, ours, peers),
        "",
        f"![NDCG@10 against fit time]({figure.name})",
        "",
    ]
    report.write_text("\n".join(lines))
    return report
