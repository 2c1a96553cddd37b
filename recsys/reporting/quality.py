"""Validation results per run (``<data-quality>/results/*.json``, written by
``recsys.validation.results``)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from recsys.reporting.errors import ReportInputError
from recsys.reporting.files import parse_time, read_json_object


@dataclass(frozen=True)
class QualityCheck:
    """One expectation's outcome, with a few failing rows when it failed."""

    table: str
    expectation: str
    description: str
    column: str | None
    success: bool
    unexpected_count: int | None
    observed: str | None
    expected: str | None
    error: str | None
    examples: list[str]


@dataclass(frozen=True)
class QualityRun:
    """One validation of a dataset (or of a batch of new ratings)."""

    dataset: str
    checked_at: datetime
    success: bool
    batch: bool
    n_expectations: int
    checks: list[QualityCheck]
    docs_index: Path | None
    path: Path

    @property
    def n_failed(self) -> int:
        return sum(not c.success for c in self.checks)


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, list | tuple):
        return ", ".join(str(v) for v in value)
    return str(value)


def _check(raw: Any, path: Path) -> QualityCheck:
    if not isinstance(raw, dict) or "expectation" not in raw or "success" not in raw:
        raise ReportInputError(path, f"a check lacks 'expectation' or 'success': {str(raw)[:120]}")
    count = raw.get("unexpected_count")
    return QualityCheck(
        table=str(raw.get("table") or "?"), expectation=str(raw["expectation"]),
        description=str(raw.get("description") or raw["expectation"]),
        column=_text(raw.get("column")), success=bool(raw["success"]),
        unexpected_count=int(count) if isinstance(count, int | float) else None,
        observed=_text(raw.get("observed")), expected=_text(raw.get("expected")),
        error=_text(raw.get("error")), examples=[str(e) for e in raw.get("examples") or []],
    )


def read_quality_runs(docs_dir: Path) -> list[QualityRun]:
    """Every recorded validation under ``docs_dir/results``, oldest first."""
    folder = docs_dir / "results"
    runs = []
    for path in sorted(folder.glob("*.json")) if folder.is_dir() else []:
        raw = read_json_object(path)
        checks = raw.get("checks")
        if not isinstance(checks, list):
            raise ReportInputError(path, "'checks' is not a list")
        docs = raw.get("docs_index")
        runs.append(QualityRun(
            dataset=str(raw.get("dataset") or "?"),
            checked_at=parse_time(raw.get("checked_at"), path, "checked_at"),
            success=bool(raw.get("success")), batch=bool(raw.get("batch")),
            n_expectations=int(raw.get("n_expectations") or len(checks)),
            checks=[_check(c, path) for c in checks],
            docs_index=Path(docs) if docs else None, path=path,
        ))
    return sorted(runs, key=lambda r: r.checked_at)
