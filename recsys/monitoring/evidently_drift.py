"""Evidently's column drift report and the workspace that keeps every monitoring run.

The reports compare a batch with the whole training snapshot and are kept for reading
(``recsys.monitoring.drift.decide`` decides from the like-with-like statistics).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

PROJECT_NAME = "movierec drift"


@dataclass(frozen=True)
class ColumnDrift:
    """Evidently's verdict on the columns of a batch: the share and names of the drifted
    columns, each column's drift distance, and the report itself."""

    share: float
    drifted: list[str]
    scores: dict[str, float]
    snapshot: Any


def column_drift(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    numeric: list[str],
    categorical: list[str],
    drift_share: float,
) -> ColumnDrift:
    """Evidently's data drift preset on ``numeric`` and ``categorical`` columns of
    ``current`` against ``reference``."""
    from evidently import DataDefinition, Dataset, Report
    from evidently.presets import DataDriftPreset

    numeric = [c for c in numeric if reference[c].notna().any() and current[c].notna().any()]
    definition = DataDefinition(numerical_columns=numeric, categorical_columns=categorical)
    # Distances, not p-values: their verdict does not depend on the batch size.
    preset = DataDriftPreset(drift_share=drift_share, num_method="wasserstein",
                             cat_method="jensenshannon")
    snapshot = Report([preset], include_tests=True).run(
        reference_data=Dataset.from_pandas(reference[numeric + categorical], data_definition=definition),
        current_data=Dataset.from_pandas(current[numeric + categorical], data_definition=definition),
    )
    result = snapshot.dict()
    scores: dict[str, float] = {}
    share = 0.0
    for metric in result["metrics"]:
        config = metric.get("config", {})
        if config.get("type", "").endswith("DriftedColumnsCount"):
            share = float(metric["value"]["share"])
        elif config.get("type", "").endswith("ValueDrift"):
            scores[config["column"]] = float(metric["value"])
    drifted = [
        t["metric_config"]["params"]["column"]
        for t in result["tests"]
        if t.get("id") == "drift" and t.get("status") == "FAIL"
    ]
    return ColumnDrift(share, sorted(drifted), scores, snapshot)


def add_to_workspace(workspace: Path, snapshots: list[Any]) -> None:
    """Add the reports to the Evidently workspace at ``workspace`` (its drift project)."""
    from evidently.ui.workspace import Workspace

    ws = Workspace.create(str(workspace))
    projects = [p for p in ws.list_projects() if p.name == PROJECT_NAME]
    project = projects[0] if projects else ws.create_project(PROJECT_NAME)
    for snap in snapshots:
        ws.add_run(project.id, snap, include_data=False)
