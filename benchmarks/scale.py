"""Scale benchmark: `movierec run --profile large` on synthetic sets of growing size (and
ML-100K with the default profile); wall time and peak RSS of every step and of every
variant's fit, and the growth exponent. Writes benchmarks/results/scale.md and scale.png.

    python benchmarks/scale.py --sizes 1000000,5000000,25000000 [--ml100k] [--work DIR]

Each size runs in its own project folder under ``--work`` (a synthetic set written with
`movierec data synth`, registered with `movierec data add`, then `movierec run --dataset
synth-N --profile large`, which builds the champion's Bento into a BentoML store in the
project folder). The RSS of the whole process tree is sampled every half second and
attributed to the step whose Prefect flow was running at the time (steps from the flows'
start and finish log lines); a variant's fit time is its ``fit_seconds`` in the
leaderboard. Not a timed test: figures depend on the machine.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import re
import resource
import subprocess
import sys
import threading
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import pandas as pd
import psutil

from recsys.data.synth import SynthConfig, write_synthetic

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
MOVIEREC = str(Path(sys.executable).with_name("movierec"))
STEPS = ("ingest", "validate", "filter", "train", "evaluate", "register", "package", "monitor")
_BEGIN = re.compile(r"^(\d\d:\d\d:\d\d\.\d+) \| INFO .*Beginning (?:subflow )?run '([^']+)' "
                    r"for flow '([^']+)'")
_END = re.compile(r"^(\d\d:\d\d:\d\d\.\d+) \| INFO .*Flow run '([^']+)' - Finished in state")


class TreeSampler:
    """Samples the summed RSS of a process and its descendants."""

    def __init__(self, pid: int, every: float = 0.5) -> None:
        self.pid, self.every = pid, every
        self.samples: list[tuple[float, int]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                root = psutil.Process(self.pid)
                procs = [root, *root.children(recursive=True)]
                rss = 0
                for proc in procs:
                    with contextlib.suppress(psutil.Error):
                        rss += proc.memory_info().rss
                self.samples.append((time.time(), rss))
            except psutil.Error:
                pass
            self._stop.wait(self.every)

    def __enter__(self) -> TreeSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _run(cmd: list[str], cwd: Path, log: Path, env: dict[str, str]
         ) -> tuple[int, float, float, list[float], list[tuple[float, int]]]:
    """Exit code, wall seconds, CPU seconds of the process tree (user + system of every
    reaped descendant), the 1-minute load averages seen, and the RSS samples."""
    start, cpu = time.time(), _children_cpu()
    loads: list[float] = []
    with log.open("w") as out:
        proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT)
        with TreeSampler(proc.pid) as sampler:
            while True:
                loads.append(os.getloadavg()[0])
                try:
                    code = proc.wait(timeout=5)
                    break
                except subprocess.TimeoutExpired:
                    continue
    return code, time.time() - start, _children_cpu() - cpu, loads, sampler.samples


def _steps(log: Path, day: datetime) -> dict[str, tuple[float, float]]:
    """Step -> (start, end) epoch seconds, from the flows' log lines."""
    names: dict[str, str] = {}
    spans: dict[str, list[float]] = {}

    def epoch(clock: str) -> float:
        return datetime.combine(day.date(), datetime.strptime(clock, "%H:%M:%S.%f").time()
                                ).timestamp()

    for line in log.read_text(errors="replace").splitlines():
        if match := _BEGIN.match(line):
            names[match.group(2)] = match.group(3)
            spans.setdefault(match.group(3), [epoch(match.group(1)), math.nan])
        elif (match := _END.match(line)) and match.group(2) in names:
            spans[names[match.group(2)]][1] = epoch(match.group(1))
    return {flow: (a, b) for flow, (a, b) in spans.items() if flow in STEPS}


def _measure(label: str, folder: Path, dataset: str, profile: str | None,
             source: Path | None) -> dict[str, Any]:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "params.yaml").write_text((ROOT / "params.yaml").read_text())
    if source is not None:
        subprocess.run([MOVIEREC, "data", "add", dataset, "--source", str(source)], cwd=folder,
                       check=True, capture_output=True)
    cmd = [MOVIEREC, "run", "--dataset", dataset,
           "--tracking-uri", f"sqlite:///{folder / 'mlflow.db'}"]
    if profile:
        cmd += ["--profile", profile]
    day = datetime.now()
    env = {**os.environ, "BENTOML_HOME": str(folder / "bentoml")}  # the Bento stays here
    code, wall, cpu, loads, samples = _run(cmd, folder, folder / "run.log", env)
    steps = _steps(folder / "run.log", day)
    rows: dict[str, dict[str, float]] = {}
    for step, (start, end) in steps.items():
        inside = [rss for t, rss in samples if start <= t <= (end if end == end else math.inf)]
        rows[step] = {"seconds": (end - start) if end == end else math.nan,
                      "peak_gb": max(inside) / 1e9 if inside else math.nan}
    board = folder / "reports" / "evaluation" / dataset / "leaderboard.csv"
    fits = {}
    if board.is_file():
        frame = pd.read_csv(board)
        fits = dict(zip(frame["variant"], frame["fit_seconds"], strict=True))
    skipped = {}
    md = folder / "reports" / "evaluation" / dataset / "leaderboard.md"
    if md.is_file():
        skipped = dict(re.findall(r"^\| (\w+) \| (skipped: [^|]+) \|$", md.read_text(), re.M))
    return {"label": label, "exit": code, "wall": wall, "cpu": cpu,
            "load": sum(loads) / len(loads) if loads else math.nan,
            "peak_gb": max((rss for _, rss in samples), default=0) / 1e9,
            "steps": rows, "fits": fits, "skipped": skipped}


def _exponent(small: dict[str, Any], large: dict[str, Any], n_small: int, n_large: int) -> float:
    return math.log(large["wall"] / small["wall"]) / math.log(n_large / n_small)


def _report(results: list[dict[str, Any]], sizes: dict[str, int], out: Path) -> None:
    lines = ["# Scale benchmark", "",
             "`python benchmarks/scale.py` on the shared 2-core, 24 GiB machine (other "
             "sessions' jobs ran at the same time: absolute times are noisy). `movierec run "
             "--profile large` on synthetic sets (`movierec data synth`, seed 0), "
             "RSS summed over the run's process tree, sampled every 0.5 s.", "",
             "| run | exit | wall s | CPU s | mean load (1 min) | peak RSS GB |",
             "|:--|--:|--:|--:|--:|--:|"]
    lines += [f"| {r['label']} | {r['exit']} | {r['wall']:.0f} | {r.get('cpu', math.nan):.0f} | "
              f"{r.get('load', math.nan):.1f} | {r['peak_gb']:.2f} |" for r in results]
    for r in results:
        lines += ["", f"## {r['label']}", "", "| step | seconds | peak RSS GB |", "|:--|--:|--:|"]
        lines += [f"| {s} | {v['seconds']:.0f} | {v['peak_gb']:.2f} |"
                  for s, v in r["steps"].items()]
        if r["fits"]:
            lines += ["", "| variant | fit seconds |", "|:--|--:|"]
            lines += [f"| {v} | {s:.1f} |" for v, s in r["fits"].items()]
        if r["skipped"]:
            lines += ["", "| variant | not trained |", "|:--|:--|"]
            lines += [f"| {v} | {why} |" for v, why in r["skipped"].items()]
    synthetic = [r for r in results if r["label"] in sizes and r["exit"] == 0]
    if len(synthetic) >= 2:
        a, b = synthetic[0], synthetic[-1]
        ratio = b["wall"] / a["wall"]
        lines += ["", f"Growth from {a['label']} to {b['label']}: time x{ratio:.1f} for "
                  f"x{sizes[b['label']] / sizes[a['label']]:.0f} the ratings, exponent "
                  f"{_exponent(a, b, sizes[a['label']], sizes[b['label']]):.2f}."]
    else:
        lines += ["", "Growth exponent: needs two completed synthetic sizes."]
    out.write_text("\n".join(lines) + "\n")
    (out.with_suffix(".json")).write_text(json.dumps(results, indent=2, default=str))
    _plot(synthetic, sizes, out.with_suffix(".png"))


def _plot(results: list[dict[str, Any]], sizes: dict[str, int], path: Path) -> None:
    if not results:
        return
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    n = [sizes[r["label"]] for r in results]
    for step in STEPS:
        secs = [r["steps"].get(step, {}).get("seconds", math.nan) for r in results]
        peaks = [r["steps"].get(step, {}).get("peak_gb", math.nan) for r in results]
        if any(s == s for s in secs):
            left.plot(n, secs, marker="o", label=step)
            right.plot(n, peaks, marker="o", label=step)
    left.plot(n, [r["wall"] for r in results], "k--", marker="s", label="whole run")
    right.plot(n, [r["peak_gb"] for r in results], "k--", marker="s", label="whole run")
    for ax, title in ((left, "wall time (s)"), (right, "peak RSS (GB)")):
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("ratings")
        ax.set_title(title)
    left.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", default="1000000,5000000,25000000")
    parser.add_argument("--ml100k", action="store_true", help="also ML-100K, default profile")
    parser.add_argument("--work", type=Path, default=ROOT / ".scale-bench")
    parser.add_argument("--out", type=Path, default=RESULTS / "scale.md")
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))

    results, sizes = [], {}
    if args.ml100k:
        results.append(_measure("ml-100k (default profile)", args.work / "ml-100k", "ml-100k",
                                None, None))
    for n in (int(x) for x in args.sizes.split(",") if x):
        label = f"synthetic {n / 1e6:.3g}M"
        sizes[label] = n
        source = args.work / f"synth-{n}"
        if not (source / "ratings.csv").is_file():
            write_synthetic(source, SynthConfig(n_ratings=n, seed=0))
        results.append(_measure(label, args.work / f"project-{n}", f"synth-{n // 1000}k",
                                "large", source))
        print(json.dumps(results[-1], default=str)[:400], flush=True)
        _report(results, sizes, args.out)
    _report(results, sizes, args.out)


if __name__ == "__main__":
    main()
