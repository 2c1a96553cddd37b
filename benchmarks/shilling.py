"""Shilling benchmark on ML-100K: detection over an attack grid, false positives on clean
data, and the attack's impact on user_knn, item_knn and mf before and after filtering.

Writes ``benchmarks/results/shilling-ml-100k.md``. Run from the project root::

    .venv/bin/python benchmarks/shilling.py [--workers 2] [--quick | --kinds average,mixed] [--skip-impact]

Design (10-12 minutes on two cores):

* grid: every attack kind x attack size 1/3/5/10% x filler size 1/3/5/10%; per cell 10 runs,
  run ``j`` attacks target ``j`` (10 targets spread over item popularity) with seed ``j % 3``
  (3 seeds);
* held-out detector (the honest figures): for each evaluated kind, the ensemble classifier is
  trained on attacks of every *other* kind (``mixed`` is held out alone; its component kinds
  stay in training), with sizes and filler sizes drawn log-uniformly from continuous ranges
  and targets outside the benchmark's 10. Genuine users are cross-fitted: model A learns
  from half of them as negatives, model B from the other half, and every genuine user is
  scored by the model that never saw it (fakes by the mean of both); the held-out
  probabilities then go through the ensemble's group confirmation (``confirm_groups``), as
  in the pipeline, and the probabilities alone are reported beside them;
* the shipped reference model (``recsys/shilling/reference/ensemble``) is reported beside it:
  it was trained on every kind and on all ML-100K users, so its false-positive figures on
  ML-100K are in-sample;
* PCA-VarSelect is given the true number of attackers (as in Mehta and Nejdl 2009).
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import tempfile  # noqa: E402

from recsys.data.fetch import fetch  # noqa: E402
from recsys.data.interactions import Interactions  # noqa: E402
from recsys.data.prepare import prepare  # noqa: E402
from recsys.models import create  # noqa: E402
from recsys.shilling.attacks import ATTACK_KINDS, RatingStats, generate_attack  # noqa: E402
from recsys.shilling.detectors import (  # noqa: E402
    REFERENCE_DIR,
    TRAINING_KINDS,
    EnsembleDetector,
    TreeEnsemble,
    confirm_groups,
    detection_features,
)
from recsys.shilling.filter import filter_ratings  # noqa: E402

SIZES = (0.01, 0.03, 0.05, 0.10)
FILLERS = (0.01, 0.03, 0.05, 0.10)
N_TARGETS = 10
N_SEEDS = 3
THRESHOLD = 0.5
OUT = ROOT / "benchmarks" / "results" / "shilling-ml-100k.md"
MIRROR = ROOT.parent / "shared" / "data"

_STATE: dict[str, Any] = {}


def load_ml100k() -> pd.DataFrame:


    processed = ROOT / "data" / "processed" / "ml-100k" / "ratings.parquet"
    if processed.is_file():
        return pd.read_parquet(processed)
    tmp = Path(tempfile.mkdtemp(prefix="shilling-bench-"))
    fetch("ml-100k", cache_dir=tmp / "raw", source=MIRROR)
    prepare("ml-100k", raw_dir=tmp / "raw", out_dir=tmp / "processed")
    return pd.read_parquet(tmp / "processed" / "ml-100k" / "ratings.parquet")


def pick_targets(stats: RatingStats, n: int) -> list[int]:
    """``n`` items spread over popularity: the items at evenly spaced count quantiles
    (among items with at least 5 ratings)."""
    eligible = np.flatnonzero(stats.item_count >= 5)
    order = eligible[np.argsort(stats.item_count[eligible], kind="stable")]
    picks = [order[int(q * (len(order) - 1))] for q in np.linspace(0.05, 0.95, n)]
    return [int(stats.item_ids[p]) for p in picks]


def train_held_out(args: tuple[str, int, tuple[int, ...], tuple[int, ...]]) -> tuple[str, int, TreeEnsemble]:
    kind, fold, excluded_users, targets = args
    ratings = _STATE["ratings"]
    kinds = tuple(k for k in TRAINING_KINDS if k != kind)
    detector = EnsembleDetector(
        training="self", training_kinds=kinds, attacks_per_kind=3,
        exclude_targets=targets, exclude_negatives=excluded_users, seed=11 + fold,
    ).train(ratings)
    return kind, fold, detector.classifier_


def _init(ratings: pd.DataFrame, models: dict[str, Any]) -> None:
    _STATE["ratings"] = ratings
    _STATE["stats"] = RatingStats.from_ratings(ratings)
    _STATE.update(models)


def _counts(scores: np.ndarray, is_fake: np.ndarray, threshold: float) -> dict[str, float]:
    flagged = scores >= threshold
    tp = int((flagged & is_fake).sum())
    fp = int((flagged & ~is_fake).sum())
    fn = int((~flagged & is_fake).sum())
    # precision at the first cut reaching 95% recall
    need = math.ceil(0.95 * is_fake.sum())
    order = np.argsort(-scores, kind="stable")
    hits = np.cumsum(is_fake[order])
    cut = int(np.searchsorted(hits, need)) + 1
    return {"tp": tp, "fp": fp, "fn": fn, "p_at_r95": float(hits[cut - 1] / cut)}


def run_cell(cell: tuple[str, float, float]) -> list[dict[str, Any]]:
    kind, size, filler = cell
    ratings, stats = _STATE["ratings"], _STATE["stats"]
    fold_of: pd.Series = _STATE["fold_of"]
    model_a, model_b = _STATE["held_out"][kind]
    reference: TreeEnsemble = _STATE["reference"]
    rows = []
    for j, target in enumerate(_STATE["targets"]):
        seed = j % N_SEEDS
        attack = generate_attack(ratings, kind, size=size, filler=filler, targets=target,
                                 seed=seed, stats=stats)
        feats = detection_features(attack.ratings, with_members=True)
        is_fake = np.isin(feats.index.to_numpy(), attack.fake_users)
        x = feats.loc[:, model_a.feature_names].to_numpy()
        pa, pb = model_a.predict_proba(x), model_b.predict_proba(x)
        fold = fold_of.reindex(feats.index).to_numpy()
        # model A saw fold-0 users as negatives: it scores fold 1, and vice versa
        classifier = np.where(fold == 0, pb, np.where(fold == 1, pa, (pa + pb) / 2))
        held_out = _confirmed(attack.ratings, classifier, feats.index)
        ref = _confirmed(attack.ratings, reference.predict_proba(
            feats.loc[:, reference.feature_names].to_numpy()), feats.index)
        # PCA-VarSelect with the true attack size: the n_fake smallest contributions
        n_fake = int(is_fake.sum())
        smallest = np.argsort(feats["pca_log_contribution"].to_numpy(), kind="stable")[:n_fake]
        pca_flag = np.zeros(len(feats))
        pca_flag[smallest] = 1.0
        base = {"kind": kind, "size": size, "filler": filler, "target": target, "seed": seed,
                "n_fake": n_fake}
        for name, scores in (("held_out", held_out), ("held_out_classifier", classifier),
                             ("reference", ref), ("pca_varselect", pca_flag)):
            rows.append({**base, "detector": name, **_counts(scores, is_fake, THRESHOLD)})
    return rows


def _confirmed(ratings: pd.DataFrame, probability: np.ndarray, users: pd.Index) -> np.ndarray:
    """The ensemble's final scores: the classifier's probabilities confirmed by attack groups."""
    return confirm_groups(ratings, pd.Series(probability, index=users)).reindex(users).to_numpy()


def prf(tp: float, fp: float, fn: float) -> tuple[float, float, float]:
    p = tp / (tp + fp) if tp + fp else 0.0
    r = tp / (tp + fn) if tp + fn else 0.0
    return p, r, (2 * p * r / (p + r) if p + r else 0.0)


def summarise(runs: pd.DataFrame) -> pd.DataFrame:
    grouped = runs.groupby(["detector", "kind", "size", "filler"], sort=False)
    agg = grouped[["tp", "fp", "fn"]].sum()
    out = agg.apply(lambda r: pd.Series(prf(r.tp, r.fp, r.fn), index=["precision", "recall", "f1"]), axis=1)
    out["p_at_r95"] = grouped["p_at_r95"].mean()
    out["min_run_f1"] = runs.assign(
        f1=[prf(a, b, c)[2] for a, b, c in zip(runs.tp, runs.fp, runs.fn, strict=True)]
    ).groupby(["detector", "kind", "size", "filler"], sort=False)["f1"].min()
    return out.reset_index()


# -- impact --------------------------------------------------------------------------------
def impact(ratings: pd.DataFrame, targets: list[int], size: float, filler: float,
           models: tuple[str, ...]) -> tuple[pd.DataFrame, list[str]]:
    """Prediction shift and HitRate@10 of each target: clean, attacked, attacked + filtered."""

    notes: list[str] = []
    available: list[str] = []
    for name in models:
        try:
            create(name)
            available.append(name)
        except Exception as exc:  # noqa: BLE001 - report a missing model, keep going
            notes.append(f"model `{name}` unavailable ({type(exc).__name__}: {exc}); skipped")
    genuine_users = np.unique(ratings["user_id"].to_numpy())
    clean_models = {n: create(n).fit(Interactions.from_frame(ratings)) for n in available}
    rows = []
    stats = RatingStats.from_ratings(ratings)
    for j, target in enumerate(targets):
        attack = generate_attack(ratings, "average", size=size, filler=filler, targets=target,
                                 seed=j % N_SEEDS, stats=stats)
        result = filter_ratings(attack.ratings, max_removed_share=0.5)
        removed_fakes = np.isin(attack.fake_users, result.report["flagged_users"]).mean()
        audience = np.setdiff1d(genuine_users, ratings.loc[ratings["item_id"] == target, "user_id"])
        variants = {"attacked": attack.ratings, "filtered": result.kept}
        for name in available:
            clean_pred = clean_models[name].predict(audience, np.full(len(audience), target))
            clean_hr = _hit_rate(clean_models[name], audience, target)
            row = {"model": name, "target": target, "fakes_removed": removed_fakes,
                   "hr_clean": clean_hr}
            for label, frame in variants.items():
                model = create(name).fit(Interactions.from_frame(frame))
                pred = model.predict(audience, np.full(len(audience), target))
                row[f"shift_{label}"] = float(np.nanmean(pred - clean_pred))
                row[f"hr_{label}"] = _hit_rate(model, audience, target)
            rows.append(row)
    return pd.DataFrame(rows), notes


def _hit_rate(model: Any, users: np.ndarray, target: int) -> float:
    recs = model.recommend(users.tolist(), k=10).frame
    return float(recs.loc[recs["item_id"] == target, "user_id"].nunique() / len(users))


# -- report --------------------------------------------------------------------------------
def pct(x: float) -> str:
    return f"{100 * x:.0f}%" if x >= 0.01 or x == 0 else f"{100 * x:.1f}%"


def cell_table(summary: pd.DataFrame, detector: str, kind: str) -> list[str]:
    part = summary[(summary.detector == detector) & (summary.kind == kind)].set_index(["size", "filler"])
    lines = ["| attack size \\ filler | " + " | ".join(pct(f) for f in FILLERS) + " |",
             "|---|" + "---|" * len(FILLERS)]
    for s in SIZES:
        cells = []
        for f in FILLERS:
            r = part.loc[(s, f)]
            cells.append(f"{r.f1:.3f} ({r.precision:.2f}/{r.recall:.2f})")
        lines.append(f"| {pct(s)} | " + " | ".join(cells) + " |")
    return lines


def write_report(summary: pd.DataFrame, runs: pd.DataFrame, fpr: dict[str, Any],
                 impact_frame: pd.DataFrame, notes: list[str], meta: dict[str, Any]) -> str:
    basic = ("random", "average", "bandwagon", "segment")
    obfuscated = ("popular_filler", "noise", "target_shift", "mixed")
    lines = ["# Shilling detection and filtering on ML-100K", "",
             f"Generated by `benchmarks/shilling.py` in {meta['seconds']:.0f} s "
             f"({meta['workers']} worker processes). {meta['n_runs']} attacked datasets: "
             f"{len(ATTACK_KINDS)} kinds x {len(SIZES)} attack sizes x {len(FILLERS)} filler sizes "
             f"x {N_TARGETS} runs (run j: target j of {N_TARGETS}, seed j mod {N_SEEDS}). "
             f"Threshold {THRESHOLD}. Targets (item id: number of ratings): "
             + ", ".join(f"{t}: {c}" for t, c in meta["targets"]) + ".", "",
             "Detectors: **held-out** = the ensemble trained on every other attack kind, "
             "genuine users cross-fitted (the honest figure); **reference** = the shipped "
             "model the pipeline uses (trained on every kind and on all ML-100K users, so "
             "its genuine-user errors here are in-sample); both are the classifier's "
             "probability confirmed by attack groups (`confirm_groups`: a suspect is flagged "
             "only inside a group of suspects sharing an extreme-rated item, and batches of "
             "same-size profiles sharing one are flagged whatever the classifier says); "
             "**held-out classifier** = the held-out probability alone, without the group "
             "steps; "
             "**pca_varselect** = Mehta and Nejdl's method told the true number of attackers.", "",
             "## Against the targets", "",
             "| target | measured (held-out) | held-out classifier alone | measured (reference) | met? |",
             "|---|---|---|---|---|"]

    def worst(detector: str, kinds: tuple[str, ...], sizes: tuple[float, ...], fillers: tuple[float, ...],
              col: str = "f1") -> float:
        sel = summary[(summary.detector == detector) & summary.kind.isin(kinds)
                      & summary["size"].isin(sizes) & summary.filler.isin(fillers)]
        return float(sel[col].min())

    big = (0.03, 0.05, 0.10)
    detectors = ("held_out", "held_out_classifier", "reference")
    t1 = [worst(d, basic, big, big) for d in detectors]
    t2 = [worst(d, obfuscated, SIZES, FILLERS) for d in detectors]
    t3 = [worst(d, ATTACK_KINDS, (0.01,), FILLERS, "p_at_r95") for d in detectors]
    raw_fp = fpr["classifier_per_kind"]
    lines += [
        f"| F1 >= 0.95, random/average/bandwagon/segment, size and filler >= 3% (worst cell) | "
        f"{t1[0]:.3f} | {t1[1]:.3f} | {t1[2]:.3f} | {'yes' if t1[0] >= 0.95 else 'no'} |",
        f"| F1 >= 0.85 on obfuscated and mixed attacks (worst cell, all sizes) | {t2[0]:.3f} | "
        f"{t2[1]:.3f} | {t2[2]:.3f} | {'yes' if t2[0] >= 0.85 else 'no'} |",
        f"| precision >= 0.8 at recall >= 0.95, 1% attacks (worst cell, mean over runs) | "
        f"{t3[0]:.3f} | {t3[1]:.3f} | {t3[2]:.3f} | {'yes' if t3[0] >= 0.8 else 'no'} |",
        f"| < 1% of genuine ML-100K users flagged (clean data) | {pct(fpr['held_out_mean'])} mean, "
        f"{pct(fpr['held_out_max'])} worst of {fpr['n_models']} held-out models | "
        f"{min(raw_fp.values())}-{max(raw_fp.values())} users | "
        f"{pct(fpr['reference'])} (in-sample) | {'yes' if fpr['held_out_max'] < 0.01 else 'no'} |",
    ]
    if not impact_frame.empty:
        for name in ("user_knn", "item_knn", "mf"):
            sub = impact_frame[impact_frame.model == name]
            if sub.empty:
                continue
            attacked = sub.shift_attacked.abs().mean()
            cut = 1 - sub.shift_filtered.abs().mean() / max(attacked, 1e-12)
            hr_ok = (sub.hr_filtered <= 2 * sub.hr_clean + 1e-12).mean()
            if attacked < 0.01:  # the attack did not move this model: nothing to cut
                measured, met = f"n/a: attack shift only {sub.shift_attacked.mean():+.4f}", "n/a"
            else:
                measured, met = f"{100 * cut:.1f}%", "yes" if cut >= 0.9 else "no"
            lines.append(
                f"| average push 5%/5%: filtering cuts prediction shift on {name} by >= 90% | "
                f"{measured} | | (filter = reference) | {met} |")
            lines.append(
                f"| ... and the target's HitRate@10 on {name} returns within 2x of clean | "
                f"{100 * hr_ok:.0f}% of targets | | (filter = reference) | {'yes' if hr_ok == 1 else 'no'} |")
    lines += ["", "Published reference points on ML-100K: PCA-VarSelect precision/recall 94-100% "
              "(random), 90-98% (average), 78-98% (bandwagon); DegreeSAD F1 0.98 on a 15% hybrid "
              "attack; a supervised classifier with 22-42% precision at 1% attack size. "
              "PCA-VarSelect as implemented here (with the true attack size) reaches: "
              + "; ".join(
                  f"{k} {worst('pca_varselect', (k,), big, big):.2f}-"
                  f"{summary[(summary.detector == 'pca_varselect') & (summary.kind == k) & summary['size'].isin(big) & summary.filler.isin(big)].f1.max():.2f}"
                  for k in ("random", "average", "bandwagon"))
              + " F1 (sizes and fillers >= 3%).", ""]

    lines += ["## False positives on clean ML-100K", "",
              f"Held-out models (each genuine user scored by the model that did not see it): "
              f"mean {pct(fpr['held_out_mean'])}, worst {pct(fpr['held_out_max'])} of 943 users; "
              f"per held-out kind: " + ", ".join(f"{k} {v}" for k, v in fpr["per_kind"].items())
              + " (the classifier alone, before the group step: "
              + ", ".join(f"{k} {v}" for k, v in fpr["classifier_per_kind"].items()) + ")"
              + f". Reference model (in-sample): {fpr['reference_count']} users ({pct(fpr['reference'])}).", ""]

    if not impact_frame.empty:
        lines += ["## Attack impact before and after filtering", "",
                  f"Average push attack, size {pct(meta['impact_size'])}, filler "
                  f"{pct(meta['impact_filler'])}, the same {N_TARGETS} targets; the filter is the "
                  "pipeline's (`filter_ratings`, reference ensemble, threshold 0.5). Prediction "
                  "shift = mean change of the target's predicted rating over genuine users who "
                  "had not rated it; HitRate@10 = share of those users with the target in their "
                  "top 10. Means over targets.", "",
                  "| model | shift attacked | shift filtered | shift cut | HR@10 clean | HR@10 attacked | HR@10 filtered | fakes removed |",
                  "|---|---|---|---|---|---|---|---|"]
        for name, sub in impact_frame.groupby("model", sort=False):
            attacked = sub.shift_attacked.abs().mean()
            cut = 1 - sub.shift_filtered.abs().mean() / max(attacked, 1e-12)
            # the ratio of two ~0 shifts means nothing: say so instead of printing it
            cut_text = "n/a (not moved)" if attacked < 0.01 else f"{100 * cut:.1f}%"
            lines.append(
                f"| {name} | {sub.shift_attacked.mean():+.3f} | {sub.shift_filtered.mean():+.3f} | "
                f"{cut_text} | {sub.hr_clean.mean():.4f} | {sub.hr_attacked.mean():.4f} | "
                f"{sub.hr_filtered.mean():.4f} | {100 * sub.fakes_removed.mean():.1f}% |")
        lines.append("")
    for note in notes:
        lines.append(f"- {note}")
    if notes:
        lines.append("")

    lines += ["## Per-cell detection", "",
              "Each cell: F1 (precision/recall), micro-averaged over the 10 runs.", ""]
    for detector in ("held_out", "reference", "pca_varselect"):
        lines += [f"### {detector}", ""]
        for kind in ATTACK_KINDS:
            lines += [f"**{kind}**", "", *cell_table(summary, detector, kind), ""]
    lines += ["### Precision at 95% recall, 1% attacks (held-out, mean over runs)", "",
              "| kind | " + " | ".join(pct(f) for f in FILLERS) + " |", "|---|" + "---|" * len(FILLERS)]
    for kind in ATTACK_KINDS:
        part = summary[(summary.detector == "held_out") & (summary.kind == kind) & (summary["size"] == 0.01)]
        lines.append(f"| {kind} | " + " | ".join(
            f"{part[part.filler == f].p_at_r95.iloc[0]:.2f}" for f in FILLERS) + " |")
    lines.append("")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--quick", action="store_true", help="2 kinds, for a smoke run")
    parser.add_argument("--kinds", default=None,
                        help="comma-separated attack kinds to run (default: every kind)")
    parser.add_argument("--skip-impact", action="store_true",
                        help="skip the attack-impact models (detection figures only)")
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    if args.kinds:
        unknown = set(args.kinds.split(",")) - set(ATTACK_KINDS)
        if unknown:
            parser.error(f"unknown kind(s) {sorted(unknown)}; choose from {', '.join(ATTACK_KINDS)}")
    start = time.perf_counter()
    ratings = load_ml100k()
    stats = RatingStats.from_ratings(ratings)
    targets = pick_targets(stats, N_TARGETS)
    kinds = ("average", "mixed") if args.quick else ATTACK_KINDS
    if args.kinds:
        kinds = tuple(args.kinds.split(","))
    users = np.unique(ratings["user_id"].to_numpy())
    fold = np.random.default_rng(5).permutation(len(users)) % 2
    fold_of = pd.Series(fold, index=users)
    excluded = {0: tuple(users[fold == 1].tolist()), 1: tuple(users[fold == 0].tolist())}
    _init(ratings, {})
    print(f"training {2 * len(kinds)} held-out models ...", flush=True)
    jobs = [(k, f, excluded[f], tuple(targets)) for k in kinds for f in (0, 1)]
    held: dict[str, list[TreeEnsemble]] = {k: [None, None] for k in kinds}  # type: ignore[list-item]
    with ProcessPoolExecutor(args.workers, initializer=_init, initargs=(ratings, {})) as pool:
        for kind, f, model in pool.map(train_held_out, jobs):
            held[kind][f] = model
    print(f"  done in {time.perf_counter() - start:.0f} s", flush=True)
    reference = TreeEnsemble.load(REFERENCE_DIR / "ensemble")

    # clean false positives
    clean = detection_features(ratings, with_members=True)
    per_kind: dict[str, int] = {}
    raw_counts: dict[str, int] = {}
    shares = []
    for kind, (ma, mb) in held.items():
        x = clean.loc[:, ma.feature_names].to_numpy()
        f = fold_of.reindex(clean.index).to_numpy()
        raw = np.where(f == 0, mb.predict_proba(x), ma.predict_proba(x))
        score = _confirmed(ratings, raw, clean.index)
        n = int((score >= THRESHOLD).sum())
        per_kind[kind] = n
        raw_counts[kind] = int((raw >= THRESHOLD).sum())
        shares.append(n / len(score))
    ref_clean = _confirmed(ratings, reference.predict_proba(
        clean.loc[:, reference.feature_names].to_numpy()), clean.index)
    fpr = {"held_out_mean": float(np.mean(shares)), "held_out_max": float(np.max(shares)),
           "classifier_per_kind": raw_counts,
           "n_models": len(shares), "per_kind": per_kind,
           "reference": float((ref_clean >= THRESHOLD).mean()),
           "reference_count": int((ref_clean >= THRESHOLD).sum())}

    cells = [(k, s, f) for k in kinds for s in SIZES for f in FILLERS]
    rows: list[dict[str, Any]] = []
    state = {"held_out": {k: tuple(v) for k, v in held.items()}, "reference": reference,
             "targets": targets, "fold_of": fold_of}
    print(f"scoring {len(cells) * N_TARGETS} attacked datasets ...", flush=True)
    with ProcessPoolExecutor(args.workers, initializer=_init, initargs=(ratings, state)) as pool:
        for n, cell_rows in enumerate(pool.map(run_cell, cells, chunksize=2), 1):
            rows.extend(cell_rows)
            if n % 16 == 0:
                print(f"  {n}/{len(cells)} cells, {time.perf_counter() - start:.0f} s", flush=True)
    runs = pd.DataFrame(rows)
    summary = summarise(runs)

    if args.skip_impact:
        impact_frame, notes = pd.DataFrame(), ["attack impact not measured (--skip-impact)"]
    else:
        print("impact ...", flush=True)
        impact_frame, notes = impact(ratings, targets, 0.05, 0.05, ("user_knn", "item_knn", "mf"))
    meta = {"seconds": time.perf_counter() - start, "workers": args.workers, "n_runs": len(cells) * N_TARGETS,
            "targets": [(t, int(stats.item_count[stats.item_index([t])[0]])) for t in targets],
            "impact_size": 0.05, "impact_filler": 0.05}
    if len(kinds) < len(ATTACK_KINDS):
        kinds_missing = [k for k in ATTACK_KINDS if k not in kinds]
        notes.append(f"partial run: kinds {', '.join(kinds_missing)} not measured")
        summary = pd.concat([summary] + [
            summary[summary.kind == kinds[0]].assign(kind=k, f1=np.nan, precision=np.nan,
                                                      recall=np.nan, p_at_r95=np.nan)
            for k in kinds_missing], ignore_index=True)
    text = write_report(summary, runs, fpr, impact_frame, notes, meta)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text)
    print(f"wrote {args.out} in {time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
