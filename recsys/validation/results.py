"""Per-run validation results as JSON beside the Data Docs (``<docs_dir>/results/``).

The Data Docs pages load their scripts and styles from CDNs and show empty tables offline;
these files let the team dashboard (``recsys.reporting``) show every expectation, pass or
fail, with the failing rows quoted, without them.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

RESULTS_FOLDER = "results"


def passed_check(table: str, outcome: Any) -> dict[str, Any]:
    """A passed GX expectation result as the dashboard shows it."""
    config = outcome.expectation_config
    kwargs = dict(config.kwargs)
    column = kwargs.get("column") or kwargs.get("column_list")
    return {"table": table, "expectation": config.type,
            "description": config.description or config.type, "column": column,
            "success": True}


def write_results(docs_dir: Path, *, dataset: str, success: bool, batch: bool,
                  failures: Iterable[Mapping[str, Any]], passed: Iterable[Mapping[str, Any]],
                  n_expectations: int, docs_index: Path | None) -> Path:
    """Write one validation's results to ``<docs_dir>/results/<time>-<dataset>.json``."""
    now = datetime.now(UTC)
    folder = Path(docs_dir) / RESULTS_FOLDER
    folder.mkdir(parents=True, exist_ok=True)
    checks = [*({**dict(f), "success": False} for f in failures), *(dict(p) for p in passed)]
    payload = {
        "dataset": dataset, "checked_at": now.isoformat(timespec="seconds"),
        "success": success, "batch": batch, "n_expectations": n_expectations,
        "docs_index": str(docs_index) if docs_index else None, "checks": checks,
    }
    path = folder / f"{now.strftime('%Y%m%dT%H%M%S%fZ')}-{dataset}.json"
    path.write_text(json.dumps(payload, indent=1, default=str) + "\n")
    return path
