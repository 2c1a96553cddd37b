"""Run records: one JSON file per pipeline run under ``reports/runs/``.

The pipeline writes what its MLflow run does not hold (the shilling filter's report) with
the run's validation summary and promotion decision; the dashboard shows them per run.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from recsys.reporting.errors import ReportInputError
from recsys.reporting.files import parse_time, read_json_object

RUNS_DIR = Path("reports/runs")


@dataclass(frozen=True)
class ShillingOutcome:
    """What the shilling filter removed in one run."""

    n_users: int
    n_ratings: int
    n_flagged_users: int
    n_quarantined_ratings: int
    threshold: float | None
    flagged_users: list[int]


@dataclass(frozen=True)
class RunRecord:
    """One pipeline run as recorded at its end."""

    finished_at: datetime
    dataset: str
    mlflow_run_id: str | None
    best: str | None
    decision: str | None
    validation: str | None
    shilling: ShillingOutcome | None
    shilling_skipped: bool
    path: Path


def record_run(summary: Mapping[str, Any], *, shilling_report: str | Path | None,
               folder: Path = RUNS_DIR) -> Path:
    """Write the run's record (the pipeline's summary plus the filter's JSON report;
    ``shilling_report`` is ``None`` when the filter was off)."""
    now = datetime.now(UTC)
    report: dict[str, Any] | None = None
    if shilling_report is not None and str(shilling_report).endswith(".json"):
        report = json.loads(Path(shilling_report).read_text())
    decision = summary.get("decision") or {}
    payload = {
        "finished_at": now.isoformat(timespec="seconds"),
        "dataset": summary.get("dataset"),
        "mlflow_run_id": summary.get("mlflow_run_id"),
        "best": summary.get("best"),
        "decision": decision.get("summary") if isinstance(decision, Mapping) else str(decision),
        "validation": summary.get("validation"),
        "shilling_skipped": shilling_report is None,
        "shilling": report,
    }
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{now.strftime('%Y%m%dT%H%M%S%fZ')}-{summary.get('dataset')}.json"
    path.write_text(json.dumps(payload, indent=1, default=str) + "\n")
    return path


def _shilling(raw: Any, path: Path) -> ShillingOutcome | None:
    if raw is None:
        return None
    if not isinstance(raw, Mapping):
        raise ReportInputError(path, "'shilling' is not an object")
    try:
        return ShillingOutcome(
            n_users=int(raw["n_users"]), n_ratings=int(raw["n_ratings"]),
            n_flagged_users=int(raw["n_flagged_users"]),
            n_quarantined_ratings=int(raw["n_quarantined_ratings"]),
            threshold=float(raw["threshold"]) if raw.get("threshold") is not None else None,
            flagged_users=[int(u) for u in raw.get("flagged_users") or []],
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise ReportInputError(path, f"shilling report incomplete ({exc!r})") from None


def read_run_records(folder: Path) -> list[RunRecord]:
    """Every run record, oldest first (none when the folder does not exist)."""
    records = []
    for path in sorted(folder.glob("*.json")) if folder.is_dir() else []:
        raw = read_json_object(path)
        records.append(RunRecord(
            finished_at=parse_time(raw.get("finished_at"), path, "finished_at"),
            dataset=str(raw.get("dataset") or "?"),
            mlflow_run_id=raw.get("mlflow_run_id"),
            best=raw.get("best"), decision=raw.get("decision"),
            validation=raw.get("validation"),
            shilling=_shilling(raw.get("shilling"), path),
            shilling_skipped=bool(raw.get("shilling_skipped")),
            path=path,
        ))
    return sorted(records, key=lambda r: r.finished_at)
