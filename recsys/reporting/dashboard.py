"""What the team dashboard shows: where the runs wrote (``DashboardSources``), and all of it
read into typed values (``collect`` -> ``DashboardData``)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from recsys.reporting.drift_log import DriftRecord, read_drift_decisions
from recsys.reporting.quality import QualityRun, read_quality_runs
from recsys.reporting.runs import RUNS_DIR, RunRecord, read_run_records
from recsys.reporting.serving import ServingHealth, read_serving_health
from recsys.reporting.tracking import (
    PipelineRun,
    RegistryVersion,
    read_pipeline_runs,
    read_registry,
)

MODEL_NAME = "movie-recommender"


@dataclass(frozen=True)
class DashboardSources:
    """Where the runs wrote their outputs (relative paths are under ``root``)."""

    root: Path
    tracking_uri: str
    model_name: str = MODEL_NAME
    runs_dir: Path = RUNS_DIR
    quality_dir: Path = Path("reports/data-quality")
    drift_decisions: Path = Path("reports/drift/decisions.jsonl")
    inference_log: Path = Path("data/inference/log.jsonl")
    evidently_workspace: Path = Path(".movierec/evidently")
    prefect_home: Path = Path(".movierec/prefect")
    metric: str = "ndcg_at_10"

    def path(self, relative: Path) -> Path:
        return relative if relative.is_absolute() else self.root / relative


@dataclass(frozen=True)
class DashboardData:
    """Everything the page shows."""

    generated_at: datetime
    sources: DashboardSources
    runs: list[PipelineRun]
    records: list[RunRecord]
    versions: list[RegistryVersion]
    quality: list[QualityRun]
    drift: list[DriftRecord]
    serving: ServingHealth | None

    @property
    def champion(self) -> RegistryVersion | None:
        return next((v for v in self.versions if "champion" in v.aliases), None)


def collect(sources: DashboardSources) -> DashboardData:
    """Read every source (``ReportInputError`` on the first corrupt one)."""
    return DashboardData(
        generated_at=datetime.now(UTC),
        sources=sources,
        runs=read_pipeline_runs(sources.tracking_uri),
        records=read_run_records(sources.path(sources.runs_dir)),
        versions=read_registry(sources.tracking_uri, sources.model_name),
        quality=read_quality_runs(sources.path(sources.quality_dir)),
        drift=read_drift_decisions(sources.path(sources.drift_decisions), sources.root),
        serving=read_serving_health(sources.path(sources.inference_log)),
    )
