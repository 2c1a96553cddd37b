"""Serving benchmark: latency and throughput of ``POST /recommend`` against the framework floor.

Starts, one after the other, the real service (``bentos.service:MovieRecommender``, a
Popularity model fitted on ML-100K, titles and catalogue availability on) and the minimal
BentoML service (``bentos.minimal_service:MinimalRecommender``: the same
``recommend`` call, no model loading, no enrichment), each with ``bentoml serve`` on
127.0.0.1, and drives each with a bounded closed-loop load generator at several
concurrency levels. Writes p50/p95/p99 latency, throughput and errors to
``benchmarks/results/serving.md``.

    .venv/bin/python benchmarks/serving.py [--requests 2000] [--max-seconds 60] [--rounds 3]

Every server it starts is stopped at the end (its whole process group).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import shutil
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import httpx
import numpy as np

from bentos.process import bentoml_serve

ROOT = Path(__file__).resolve().parents[1]
MIRROR = Path(os.environ.get("MOVIEREC_DATA_MIRROR", ROOT.parent / "shared" / "data"))
REAL = "bentos.service:MovieRecommender"
FLOOR = "bentos.minimal_service:MinimalRecommender"


@dataclass
class Result:
    service: str
    workload: str
    concurrency: int
    requests: int
    errors: int
    seconds: float
    latencies_ms: np.ndarray

    @property
    def throughput(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    def pct(self, q: float) -> float:
        return float(np.percentile(self.latencies_ms, q)) if self.latencies_ms.size else float("nan")


@contextmanager
def serve(target: str, env: dict[str, str], workdir: Path) -> Iterator[str]:
    with bentoml_serve(target, env, workdir / f"{target.split(':')[1]}.log") as (url, _):
        yield url


#: What went wrong, for the report (status code and body, or the client exception).
ERROR_KINDS: dict[str, int] = {}


async def drive(url: str, bodies: list[dict[str, object]], concurrency: int,
                max_seconds: float) -> tuple[int, int, float, np.ndarray]:
    """Closed loop: ``concurrency`` workers send ``bodies`` in turn until done or out of time."""
    latencies: list[float] = []
    errors = 0
    next_index = 0
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=30) as client:
        start = time.perf_counter()
        stop_at = start + max_seconds

        async def worker() -> None:
            nonlocal next_index, errors
            while next_index < len(bodies) and time.perf_counter() < stop_at:
                body = bodies[next_index]
                next_index += 1
                sent = time.perf_counter()
                try:
                    response = await client.post("/recommend", json=body)
                    ok = response.status_code == 200
                    kind = f"HTTP {response.status_code}: {response.text[:120]}"
                except httpx.HTTPError as exc:
                    ok, kind = False, f"{type(exc).__name__}: {exc}"[:160]
                latencies.append((time.perf_counter() - sent) * 1000)
                errors += not ok
                if not ok:
                    ERROR_KINDS[kind] = ERROR_KINDS.get(kind, 0) + 1

        await asyncio.gather(*(worker() for _ in range(concurrency)))
        seconds = time.perf_counter() - start
    return len(latencies), errors, seconds, np.asarray(latencies)


def run_levels(service: str, workload: str, url: str, levels: list[int], n_requests: int,
               max_seconds: float, body_of: object, seed: int) -> list[Result]:
    rng = np.random.default_rng(seed)
    make = body_of  # type: ignore[assignment]
    warm = [make(int(u)) for u in rng.integers(1, 944, 100)]  # type: ignore[operator]
    asyncio.run(drive(url, warm, 4, 30))
    results = []
    for concurrency in levels:
        bodies = [make(int(u)) for u in rng.integers(1, 944, n_requests)]  # type: ignore[operator]
        done, errors, seconds, lat = asyncio.run(drive(url, bodies, concurrency, max_seconds))
        results.append(Result(service, workload, concurrency, done, errors, seconds, lat))
        print(f"{service:8} {workload:18} c={concurrency:<3} {done:5} req {errors} err "
              f"{done / seconds:7.1f} req/s p50 {np.percentile(lat, 50):6.1f} "
              f"p99 {np.percentile(lat, 99):6.1f} ms", flush=True)
    return results


def prepare_model(workdir: Path, model_name: str) -> tuple[Path, Path]:
    from recsys.data.fetch import fetch
    from recsys.data.interactions import Interactions
    from recsys.data.prepare import prepare
    from recsys.models import create

    fetch("ml-100k", cache_dir=workdir / "raw", source=MIRROR)
    tables = prepare("ml-100k", raw_dir=workdir / "raw", out_dir=workdir / "processed")
    model = create(model_name).fit(Interactions.from_frame(tables.ratings, tables.items))
    folder = model.save(workdir / f"model-{model_name}")
    (folder / "serving.json").write_text(json.dumps({"version": f"bench-{model_name}"}))
    return folder, tables.folder / "items.parquet"


def engine_latencies(log: Path) -> np.ndarray:
    """Server-side time inside the engine (model + titles + availability), from the log."""
    if not log.is_file():
        return np.asarray([])
    values = []
    for line in log.read_text().splitlines():
        record = json.loads(line)
        if record.get("endpoint") == "recommend" and record.get("status") == 200:
            values.append(float(record["latency_ms"]))
    return np.asarray(values)


def merged(results: list[Result]) -> list[Result]:
    """One row per service, workload and concurrency: the rounds pooled, in first-seen order."""
    rows: dict[tuple[str, str, int], Result] = {}
    for r in results:
        key = (r.service, r.workload, r.concurrency)
        if key not in rows:
            rows[key] = r
            continue
        old = rows[key]
        rows[key] = Result(r.service, r.workload, r.concurrency, old.requests + r.requests,
                           old.errors + r.errors, old.seconds + r.seconds,
                           np.concatenate([old.latencies_ms, r.latencies_ms]))
    return list(rows.values())


def table(results: list[Result]) -> str:
    lines = ["| service | workload | concurrency | requests | errors | throughput (req/s) "
             "| p50 (ms) | p95 (ms) | p99 (ms) |", "|---|---|---:|---:|---:|---:|---:|---:|---:|"]
    for r in results:
        lines.append(f"| {r.service} | {r.workload} | {r.concurrency} | {r.requests} | {r.errors} "
                     f"| {r.throughput:.1f} | {r.pct(50):.1f} | {r.pct(95):.1f} | {r.pct(99):.1f} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=2000, help="requests per level")
    parser.add_argument("--max-seconds", type=float, default=60.0, help="time cap per level")
    parser.add_argument("--levels", type=int, nargs="+", default=[1, 8, 32])
    parser.add_argument("--rounds", type=int, default=3,
                        help="runs of each comparison level (the ratio is their median)")
    parser.add_argument("--model", default="popularity", help="model of the main comparison")
    parser.add_argument("--extra-model", default="item_knn",
                        help="also measure this model at concurrency 8 ('' to skip)")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "serving.md")
    args = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="movierec-bench-"))
    load_before = os.getloadavg()
    env = {"BENTOML_HOME": str(workdir / "bentoml"), "BENTOML_DO_NOT_TRACK": "true",
           "MOVIEREC_INFERENCE_LOG": str(workdir / "inference.jsonl")}
    results: list[Result] = []
    rounds: list[tuple[int, Result]] = []  # (round, result) of the comparison levels
    server_ms = np.asarray([])
    try:
        model_dir, items = prepare_model(workdir, args.model)
        streaming = MIRROR / "streaming"
        real_env = {**env, "MOVIEREC_MODEL_DIR": str(model_dir), "MOVIEREC_ITEMS": str(items),
                    "MOVIEREC_AVAILABILITY": str(streaming) if streaming.is_dir() else "none"}

        def plain(user: int) -> dict[str, object]:
            return {"user_id": user, "k": 10}

        def on_netflix(user: int) -> dict[str, object]:
            return {"user_id": user, "k": 10, "platforms": ["netflix"]}

        # Both servers stay up; each level runs ``rounds`` times, the two services back to
        # back in alternating order, so that drifting load from other jobs falls on one
        # round of both sides, not on one side.
        with serve(FLOOR, env, workdir) as floor_url, serve(REAL, real_env, workdir) as real_url:
            for concurrency in args.levels:
                for round_ in range(args.rounds):
                    sides = [("minimal", floor_url), ("movierec", real_url)]
                    for service, url in sides[::-1] if round_ % 2 else sides:
                        found = run_levels(service, "recommend k=10", url, [concurrency],
                                           args.requests, args.max_seconds, plain,
                                           seed=concurrency * 100 + round_)
                        rounds.extend((round_, r) for r in found)
                        results += found
            results += run_levels("movierec", "+ platforms=netflix", real_url, [8], args.requests,
                                  args.max_seconds, on_netflix, seed=2)
            server_ms = engine_latencies(workdir / "inference.jsonl")
        if args.extra_model:
            try:
                extra_dir, _ = prepare_model(workdir, args.extra_model)
            except Exception as exc:  # noqa: BLE001 - the extra row is optional
                print(f"skipping {args.extra_model}: {exc}")
            else:
                with serve(REAL, {**real_env, "MOVIEREC_MODEL_DIR": str(extra_dir)}, workdir) as url:
                    results += run_levels("movierec", f"recommend ({args.extra_model})", url, [8],
                                          args.requests, args.max_seconds, plain, seed=3)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)

    load_after = os.getloadavg()
    results = merged(results)
    ratios = []
    for concurrency in args.levels:
        shares = []
        for round_ in range(args.rounds):
            pair = {r.service: r.throughput for n, r in rounds
                    if n == round_ and r.concurrency == concurrency}
            if pair.get("minimal") and "movierec" in pair:
                shares.append(pair["movierec"] / pair["minimal"])
        if shares:
            median = float(np.median(shares))
            ratios.append(f"| {concurrency} | {median:.0%} | {min(shares):.0%} - {max(shares):.0%} "
                          f"| {'yes' if median >= 0.9 else 'no'} |")
    c8 = next((r for r in results if r.service == "movierec" and r.concurrency == 8
               and r.workload == "recommend k=10"), None)
    total_errors = sum(r.errors for r in results)
    busy = ("\n**The machine was busy before this ran (load average >= 0.5): figures are noisy "
            "and are to be rerun on an idle machine before they are quoted.**"
            if load_before[0] >= 0.5 else "")
    text = f"""# Serving benchmark

Generated by `benchmarks/serving.py` on {datetime.now(UTC):%Y-%m-%d %H:%M} UTC.
Machine: {platform.machine()}, {os.cpu_count()} CPU(s) visible, Python {platform.python_version()};
load average {load_before[0]:.1f} before, {load_after[0]:.1f} after.{busy}

Setup: `bentoml serve` on 127.0.0.1, one worker each, both up throughout; each
concurrency level runs {args.rounds} times on the minimal service and on movierec back to back (in
alternating order); the table pools the rounds (throughput = requests / time over all of
them), the targets use the median of the per-round ratios. Closed-loop load generator (httpx,
asyncio, in one process on the same machine) sending `POST /recommend`
`{{"user_id": <random 1..943>, "k": 10}}`, at most {args.requests} requests or
{args.max_seconds:.0f} s per level and round, after 100 warm-up requests. Latency is client-side
(request sent to response read).

* **minimal**: `bentos.minimal_service` (framework floor): the same
  `BaseRecommender.recommend` call on a Popularity model of ML-100K's shape, fitted at
  start-up on synthetic ratings; no model loading, titles, availability, request guard,
  response schema or inference log.
* **movierec**: `bentos.service`, model `{args.model}` fitted on ML-100K, with titles,
  catalogue availability (`../shared/data/streaming`), the request guard and the inference
  log on.

{table(results)}

## Targets

| concurrency | movierec / minimal throughput (median) | per round | >= 90 %? |
|---:|---:|---|---|
{chr(10).join(ratios)}

* Errors: {total_errors} in total (target 0){": " + "; ".join(f"{n} x {k}" for k, n in ERROR_KINDS.items()) if ERROR_KINDS else ""}.
* Time inside the engine (model scoring, titles, availability; from the inference log,
  {server_ms.size} requests): p50 {np.percentile(server_ms, 50) if server_ms.size else float('nan'):.1f} ms,
  p99 {np.percentile(server_ms, 99) if server_ms.size else float('nan'):.1f} ms. The rest of each request's
  latency is BentoML, HTTP, the load generator and waiting for a CPU.
* p99 at concurrency 8: {c8.pct(99) if c8 else float('nan'):.1f} ms (target < 50 ms on 2 cores).
"""
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
