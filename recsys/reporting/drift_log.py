"""Drift decisions over time (``reports/drift/decisions.jsonl``, one JSON line per check)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from recsys.reporting.files import parse_time, read_json_lines


@dataclass(frozen=True)
class DriftRecord:
    """One drift check and the retraining decision."""

    checked_at: datetime
    drift_detected: bool
    retrain: bool
    drift_share: float
    drifted_columns: list[str]
    reason: str
    batch_rows: int | None
    report: Path | None


def read_drift_decisions(path: Path, root: Path) -> list[DriftRecord]:
    """Every decision in ``path``, oldest first; report paths resolved against ``root``."""
    if not path.is_file():
        return []
    records = []
    for where, raw in read_json_lines(path, ("drift_detected", "retrain"), "a drift decision"):
        report = raw.get("report")
        records.append(DriftRecord(
            checked_at=parse_time(raw.get("checked_at"), Path(where), "checked_at"),
            drift_detected=bool(raw["drift_detected"]), retrain=bool(raw["retrain"]),
            drift_share=float(raw.get("drift_share") or 0.0),
            drifted_columns=[str(c) for c in raw.get("drifted_columns") or []],
            reason=str(raw.get("reason") or ""),
            batch_rows=int(raw["batch_rows"]) if raw.get("batch_rows") is not None else None,
            report=(root / report) if report else None,
        ))
    return sorted(records, key=lambda r: r.checked_at)
