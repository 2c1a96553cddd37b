"""Serving health from the service's inference log (``data/inference/log.jsonl``)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import numpy as np

from recsys.reporting.files import parse_time, read_json_lines

RECOMMENDING = ("recommend", "recommend_new_user", "similar_items")


@dataclass(frozen=True)
class ServingHealth:
    """Requests, latency, error and cold-start shares, and what was recommended."""

    requests: int
    first: datetime | None
    last: datetime | None
    by_endpoint: dict[str, int]
    by_status: dict[int, int]
    error_share: float
    cold_start_share: float | None
    latency_ms: dict[str, float]
    lists: int
    distinct_items: int
    mean_list_length: float | None
    empty_list_share: float | None
    model_versions: dict[str, int] = field(default_factory=dict)


def read_serving_health(path: Path) -> ServingHealth | None:
    """Summary of every request in the log, or ``None`` when there is no log yet."""
    if not path.is_file():
        return None
    stamps: list[datetime] = []
    endpoints: Counter[str] = Counter()
    statuses: Counter[int] = Counter()
    versions: Counter[str] = Counter()
    latencies: list[float] = []
    cold: list[bool] = []
    lengths: list[int] = []
    served: set[int] = set()
    for where, raw in read_json_lines(path, ("endpoint",), "an inference-log record"):
        stamps.append(parse_time(raw.get("ts"), Path(where), "ts"))
        endpoint = str(raw["endpoint"])
        status = int(raw.get("status") or 200)
        endpoints[endpoint] += 1
        statuses[status] += 1
        if raw.get("latency_ms") is not None:
            latencies.append(float(raw["latency_ms"]))
        if status >= 400:
            continue
        if raw.get("model_version") is not None:
            versions[str(raw["model_version"])] += 1
        if raw.get("cold_start") is not None and endpoint == "recommend":
            cold.append(bool(raw["cold_start"]))
        if endpoint in RECOMMENDING:
            items = raw.get("items") or []
            lengths.append(len(items))
            served.update(int(i) for i in items)
    total = sum(endpoints.values())
    errors = sum(n for s, n in statuses.items() if s >= 400)
    lat = np.asarray(latencies, dtype=float)
    return ServingHealth(
        requests=total, first=min(stamps, default=None), last=max(stamps, default=None),
        by_endpoint=dict(endpoints.most_common()), by_status=dict(sorted(statuses.items())),
        error_share=errors / total if total else 0.0,
        cold_start_share=float(np.mean(cold)) if cold else None,
        latency_ms={f"p{q}": float(np.percentile(lat, q)) for q in (50, 90, 99)} if lat.size else {},
        lists=len(lengths), distinct_items=len(served),
        mean_list_length=float(np.mean(lengths)) if lengths else None,
        empty_list_share=float(np.mean([n == 0 for n in lengths])) if lengths else None,
        model_versions=dict(versions.most_common()),
    )
