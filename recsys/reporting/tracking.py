"""Pipeline runs and registry versions from the MLflow store, read only.

An embedded store (``sqlite:///mlflow.db``) that does not exist is "no runs yet": it is
never created by reading. A store that exists but cannot be read is a ``ReportInputError``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from recsys.reporting.errors import ReportInputError
from recsys.tracking.mlflow_runs import store_exists
from recsys.tracking.registry import list_versions

EXPERIMENT_PREFIX = "movierec-"
MAX_RUNS = 5_000


@dataclass(frozen=True)
class VariantScore:
    """One variant's metrics in one pipeline run."""

    variant: str
    metrics: dict[str, float]


@dataclass(frozen=True)
class PipelineRun:
    """A pipeline run (MLflow parent run) and its leaderboard."""

    run_id: str
    dataset: str
    started: datetime
    status: str
    git_commit: str | None
    data_hash: str | None
    variants: list[VariantScore]

    def leaderboard(self, metric: str, maximize: bool = True) -> list[VariantScore]:
        """Variants best first by ``metric`` (variants without it last)."""
        def key(v: VariantScore) -> tuple[bool, float]:
            value = v.metrics.get(metric)
            return (value is None, 0.0 if value is None else (-value if maximize else value))
        return sorted(self.variants, key=key)


@dataclass(frozen=True)
class RegistryVersion:
    """A registered model version, its aliases and the promotion decision recorded on it."""

    version: int
    aliases: list[str]
    variant: str
    metric: str
    score: float | None
    decision: str
    reason: str
    created: datetime | None
    run_id: str | None


def _client(uri: str) -> Any:
    from mlflow.tracking import MlflowClient

    return MlflowClient(tracking_uri=uri, registry_uri=uri)


def _stamp(millis: Any) -> datetime | None:
    return None if millis is None else datetime.fromtimestamp(int(millis) / 1000, tz=UTC)


def read_pipeline_runs(uri: str) -> list[PipelineRun]:
    """Every pipeline run of every movierec experiment, oldest first."""
    if not store_exists(uri):
        return []
    try:
        client = _client(uri)
        experiments = [e for e in client.search_experiments()
                       if str(e.name).startswith(EXPERIMENT_PREFIX)]
        if not experiments:
            return []
        runs = client.search_runs([e.experiment_id for e in experiments], max_results=MAX_RUNS)
    except Exception as exc:  # noqa: BLE001 - MLflow raises many kinds for a broken store
        raise ReportInputError(uri, f"the MLflow store cannot be read ({type(exc).__name__}: "
                                    f"{str(exc).splitlines()[0] if str(exc) else ''})") from None
    children: dict[str, list[VariantScore]] = {}
    parents = []
    for run in runs:
        tags = dict(run.data.tags or {})
        parent = tags.get("mlflow.parentRunId")
        if parent:
            children.setdefault(parent, []).append(VariantScore(
                tags.get("variant") or str(run.info.run_name),
                {k: float(v) for k, v in run.data.metrics.items()}))
        else:
            parents.append(run)
    out = []
    for run in parents:
        tags = dict(run.data.tags or {})
        out.append(PipelineRun(
            run_id=run.info.run_id, dataset=tags.get("dataset", "?"),
            started=_stamp(run.info.start_time) or datetime.fromtimestamp(0, tz=UTC),
            status=str(run.info.status), git_commit=tags.get("git_commit"),
            data_hash=tags.get("data_hash"),
            variants=sorted(children.get(run.info.run_id, []), key=lambda v: v.variant)))
    return sorted(out, key=lambda r: r.started)


def read_registry(uri: str, model_name: str) -> list[RegistryVersion]:
    """Every version of ``model_name``, oldest first (none without a store or the model)."""
    if not store_exists(uri):
        return []

    try:
        rows = list_versions(model_name, tracking_uri=uri)
    except Exception as exc:  # noqa: BLE001 - as above
        raise ReportInputError(uri, f"the MLflow registry cannot be read ({type(exc).__name__}: "
                                    f"{str(exc).splitlines()[0] if str(exc) else ''})") from None
    versions = [RegistryVersion(
        version=int(row["version"]), aliases=list(row.get("aliases") or []),
        variant=str(row.get("variant") or ""), metric=str(row.get("metric") or ""),
        score=row.get("score"), decision=str(row.get("decision") or ""),
        reason=str(row.get("reason") or ""), created=_stamp(row.get("created")),
        run_id=row.get("run_id")) for row in rows]
    return sorted(versions, key=lambda v: v.version)


def champion_trend(versions: list[RegistryVersion]) -> list[tuple[datetime, float, int]]:
    """``(time, champion's score, champion version)`` after each promotion, oldest first."""
    return [(v.created, v.score, v.version) for v in versions
            if v.decision == "promoted" and v.created is not None and v.score is not None]
