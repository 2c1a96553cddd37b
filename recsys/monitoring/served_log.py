"""The service's inference log as drift monitoring reads it (answered requests only)."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pandas as pd

from recsys.serving.inference_log import iter_log

#: The inference-log fields drift monitoring reads (the request tells filtered lists apart).
SERVED_FIELDS = ("ts", "endpoint", "user_id", "items", "scores", "latency_ms",
                 "model_version", "cold_start", "request")


def read_inference_log(path: Path, since: datetime | None = None) -> pd.DataFrame:
    """The service's JSON-lines inference log (and its rotated copies), answered requests
    only (empty when absent). Read one line at a time, keeping only ``SERVED_FIELDS``;
    a torn last line (a writer killed mid-line) is skipped."""
    if not path.is_file():
        return pd.DataFrame(columns=["ts", "items", "scores", "cold_start"])
    since_text = None if since is None else pd.Timestamp(since)
    rows = []
    for record in iter_log(path):
        if int(record.get("status") or 200) != 200:  # refused requests recommend nothing
            continue
        row = {key: record[key] for key in SERVED_FIELDS if key in record}
        if since_text is not None and "ts" in row:
            stamp = pd.to_datetime(row["ts"], utc=True, errors="coerce")
            if pd.isna(stamp) or stamp < since_text:
                continue
        rows.append(row)
    return pd.DataFrame(rows, columns=list(SERVED_FIELDS) if not rows else None)


