"""Reading the files runs wrote: JSON objects, JSON lines, timestamps; corrupt is an error."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from recsys.reporting.errors import ReportInputError


def read_json_object(path: Path) -> dict[str, Any]:
    """A JSON object from ``path``; anything else is a ``ReportInputError``."""
    try:
        loaded = json.loads(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError:
        raise ReportInputError(path, "not UTF-8 text") from None
    except json.JSONDecodeError as exc:
        raise ReportInputError(path, f"not valid JSON (line {exc.lineno}: {exc.msg})") from None
    if not isinstance(loaded, dict):
        raise ReportInputError(path, "not a JSON object")
    return loaded


def parse_time(value: Any, path: Path, field: str) -> datetime:
    """An ISO timestamp (UTC when it names no zone)."""
    try:
        stamp = datetime.fromisoformat(str(value))
    except ValueError:
        raise ReportInputError(path, f"{field} {value!r} is not an ISO timestamp") from None
    return stamp if stamp.tzinfo else stamp.replace(tzinfo=UTC)


def read_json_lines(path: Path, required: tuple[str, ...], what: str) -> Iterator[tuple[str, dict[str, Any]]]:
    """``(where, record)`` per non-empty line; a line that is not a JSON object holding
    ``required`` keys is a ``ReportInputError`` naming the line."""
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        where = f"{path}, line {number}"
        try:
            raw = json.loads(line)
        except json.JSONDecodeError as exc:
            raise ReportInputError(where, f"not valid JSON ({exc.msg})") from None
        if not isinstance(raw, dict) or any(key not in raw for key in required):
            raise ReportInputError(where, f"not {what} (no {'/'.join(required)})")
        yield where, raw
