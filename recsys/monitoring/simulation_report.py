"""Markdown and plot of drift simulations (``recsys.monitoring.simulation``)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd

from recsys.monitoring.simulation import POLICIES, SimulationResult

LABELS = {"never": "never", "every_batch": "every batch", "on_drift": "on drift",
          "on_quality": "on quality drop"}


def policy_table(result: SimulationResult) -> list[str]:
    """The four policies: mean NDCG@10, retrains, and their share of every-batch's gain."""
    pol = result.policies
    lines = ["| policy | mean NDCG@10 | retrains | share of every-batch gain | share of its "
             "retrains |", "|---|---|---|---|---|"]
    for name in POLICIES:
        gain, share = shares(result, name)
        lines.append(f"| {LABELS[name]} | {float(pol[name]['mean_ndcg_at_10']):.4f} | "
                     f"{int(pol[name]['retrains'])} | {gain:.1%} | {share:.0%} |")
    return lines


def shares(result: SimulationResult, policy: str) -> tuple[float, float]:
    """``policy``'s share of every-batch's NDCG@10 gain over never, and of its retrains."""
    pol = result.policies
    base = float(pol["never"]["mean_ndcg_at_10"])
    full_gain = float(pol["every_batch"]["mean_ndcg_at_10"]) - base
    gain = ((float(pol[policy]["mean_ndcg_at_10"]) - base) / full_gain if full_gain > 0
            else float("nan"))
    return gain, int(pol[policy]["retrains"]) / max(int(pol["every_batch"]["retrains"]), 1)


def _checks_cell(checks: pd.DataFrame | None) -> str:
    if checks is None:
        return "- | -"
    ref, shifts = (checks[checks["kind"] == k] for k in ("reference-like", "injected"))
    return (f"{int(ref['retrain'].sum())} of {len(ref)} | "
            f"{int(shifts['retrain'].sum())} of {len(shifts)}")


def summary_table(runs: Sequence[tuple[SimulationResult, pd.DataFrame | None]]) -> list[str]:
    """Per dataset and seed, the on-drift and on-quality policies against the target (90 %
    of every-batch's gain with at most 50 % of its retrains) and the trigger checks
    (reference-like batches that retrain, injected shifts that do), with each dataset's
    mean and worst seed."""
    results = [r for r, _ in runs]
    checks_of = {id(r): c for r, c in runs}
    lines = ["| dataset | seed | on drift: gain | retrains | on quality: gain | retrains | "
             "target met | reference-like retraining | injected retraining |",
             "|---|---|---|---|---|---|---|---|---|"]

    def met(gain: float, share: float) -> bool:
        return gain >= 0.9 and share <= 0.5

    for dataset in dict.fromkeys(r.dataset for r in results):
        group = [r for r in results if r.dataset == dataset]
        rows = [(shares(r, "on_drift"), shares(r, "on_quality")) for r in group]
        for r, ((dg, dr), (qg, qr)) in zip(group, rows, strict=True):
            lines.append(f"| {dataset} | {r.settings.get('seed')} | {dg:.1%} | {dr:.0%} | "
                         f"{qg:.1%} | {qr:.0%} | "
                         f"{'yes' if met(dg, dr) or met(qg, qr) else '**no**'} | "
                         f"{_checks_cell(checks_of[id(r)])} |")
        if len(group) > 1:
            for label, pick in (("mean", lambda v: sum(v) / len(v)), ("worst", min)):
                dg, qg = pick([d[0] for d, _ in rows]), pick([q[0] for _, q in rows])
                worst = label == "worst"
                dr = (max if worst else pick)([d[1] for d, _ in rows])
                qr = (max if worst else pick)([q[1] for _, q in rows])
                lines.append(f"| {dataset} | {label} | {dg:.1%} | {dr:.0%} | {qg:.1%} | "
                             f"{qr:.0%} | | | |")
    return lines


def checks_table(checks: pd.DataFrame) -> list[str]:
    """Reference-like batches (must not retrain) and injected shifts (must)."""
    lines = ["| kind | batch | rows | drifted statistics | unlearnt (spans) | refresh gap | "
             "champion NDCG@10 | gap threshold (NDCG gap to the batch trend) | retrain |",
             "|---|---|---|---|---|---|---|---|---|"]
    for r in checks.to_dict("records"):
        ndcg = "-" if pd.isna(r["ndcg"]) else f"{r['ndcg']:.4f}"
        thr = "-" if pd.isna(r["threshold"]) else f"{r['threshold']:.4f}"
        lines.append(f"| {r['kind']} | {r['name']} | {r['rows']} | {r['drifted']} | "
                     f"{_num(r.get('unlearnt_spans'), 2)} | {_num(r.get('refresh_gap'), 4)} | "
                     f"{ndcg} | {thr} | {'**yes**' if r['retrain'] else 'no'} |")
    ref = checks[checks["kind"] == "reference-like"]
    shifts = checks[checks["kind"] == "injected"]
    lines += ["", f"Reference-like batches that would retrain: {int(ref['retrain'].sum())} of "
              f"{len(ref)}; injected shifts that trigger: {int(shifts['retrain'].sum())} of "
              f"{len(shifts)}."]
    return lines


def _num(value: float | None, digits: int) -> str:
    return "-" if value is None or pd.isna(value) else f"{float(value):.{digits}f}"


def batch_table(result: SimulationResult) -> list[str]:
    lines = ["| batch | date | rows | drifted | unlearnt (spans) | budget | retrain on drift | "
             "champion NDCG (on-quality) | threshold | refresh gap | retrain on quality | "
             "never | every batch | on drift | on quality |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in result.batches.to_dict("records"):
        champ = "-" if pd.isna(r["champion_ndcg"]) else f"{r['champion_ndcg']:.4f}"
        thr = "-" if pd.isna(r["quality_threshold"]) else f"{r['quality_threshold']:.4f}"
        on_drift = ("yes" if r["retrain_on_drift"] else
                    "held (budget)" if r.get("held_by_budget") else "no")
        lines.append(
            f"| {r['batch']} | {r['date']} | {r['rows']} | {r['drifted'] or '-'} | "
            f"{_num(r.get('unlearnt_spans'), 2)} | {_num(r.get('budget'), 2)} | "
            f"{on_drift} | {champ} | {thr} | "
            f"{_num(r.get('refresh_gap'), 4)} | "
            f"{'yes' if r['retrain_on_quality'] else 'no'} | {r['ndcg_never']:.4f} | "
            f"{r['ndcg_every_batch']:.4f} | {r['ndcg_on_drift']:.4f} | "
            f"{r['ndcg_on_quality']:.4f} |")
    return lines


def plot(results: Sequence[SimulationResult], path: Path) -> None:
    """NDCG@10 per batch under each policy, one panel per run; ticks mark retrains."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(len(results), 1, figsize=(10, 3.6 * len(results)), squeeze=False)
    for ax, result in zip(axes[:, 0], results, strict=True):
        frame = result.batches
        for name in POLICIES:
            ax.plot(frame["batch"], frame[f"ndcg_{name}"], marker=".", label=LABELS[name])
        for col, color in (("retrain_on_drift", "tab:green"), ("retrain_on_quality", "tab:red")):
            for b in frame.loc[frame[col], "batch"]:
                ax.axvline(b, color=color, alpha=0.25)
        ax.set_title(f"{result.dataset} ({result.model}, seed {result.settings.get('seed')}; "
                     "green: retrain on drift, red: on quality)")
        ax.set_ylabel("NDCG@10 on the batch")
        ax.legend(fontsize=8)
    axes[-1, 0].set_xlabel("batch (span since the first rating)")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)


def write_report(runs: Sequence[tuple[SimulationResult, pd.DataFrame | None]], markdown: Path,
                 png: Path, *, command: str = "movierec simulate") -> None:
    """One section per run: policies, trigger checks (when run), batches; and the plot."""
    plot([r for r, _ in runs], png)
    lines = ["# Drift simulation: datasets replayed in time order", "",
             f"Generated by `{command}` on {datetime.now(UTC).date().isoformat()}. "
             "Each batch is scored before it is learnt from (NDCG@10, the batch's ratings are "
             "the relevant items, the model's own seen items excluded), as the service "
             "serves it: users who rated since the policy's model was trained are scored "
             "from their whole history (the monitor's pending ratings, "
             "`recsys.serving.recent`), the others from the model's trained rows. Retrains "
             "decided on the last batch are not counted.", "",
             "Policies: *on drift* retrains when a like-with-like statistic drifts while the "
             "champion has at least `monitor.drift_min_spans` reference spans of ratings it "
             "never saw (by users or of movies it does not know: `unlearnt`); when a "
             "statistic drifts with less, or when the champion is stale by data (the "
             "unlearnt ratings reach `monitor.staleness_spans` reference spans, `stale` in "
             "the tables), only if the retrain budget has a retrain banked (`budget`: "
             "`monitor.retrain_budget` per batch, at most `monitor.retrain_burst`; every "
             "retrain spends from it); *on quality drop* when its NDCG@10 gap to the batch's trend falls "
             "below its expected level, or when folding its users' new histories in would gain "
             "it `monitor.refresh_gap` NDCG@10 on the batch (refresh gap). Both policies also "
             "learn from the batches they did not retrain on.", "",
             f"![NDCG per batch]({png.name})", ""]
    if len(runs) > 1:
        lines += ["## Every run against the target", ""] + summary_table(runs)
        lines += [""]
    for result, checks in runs:
        config = result.settings.get("config", {})
        lines += [f"## {result.dataset}: `{result.model}`, seed {result.settings.get('seed')}",
                  "", f"{len(result.batches)} batches of {config.get('span_days')} days after "
                  f"{result.settings.get('initial_spans')} initial spans.", ""]
        lines += policy_table(result) + [""]
        if checks is not None:
            lines += ["### Trigger checks", ""] + checks_table(checks) + [""]
        lines += ["### Batches", ""] + batch_table(result) + [""]
    markdown.parent.mkdir(parents=True, exist_ok=True)
    markdown.write_text("\n".join(lines) + "\n")
