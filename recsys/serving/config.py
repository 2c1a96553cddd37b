"""The ``serve:`` section of ``params.yaml``: what the service serves and how."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from recsys.availability.provider import DEFAULT_REGION
from recsys.tracking.registry import MODEL_NAME, registered_name

MODEL_ALIAS = "champion"
#: Serve this dataset's champion instead of ``data.dataset``'s (``movierec serve --dataset``).
DATASET_ENV = "MOVIEREC_DATASET"


class ServeConfig(BaseModel):
    """The ``serve:`` section of ``params.yaml`` (environment variables override it).

    Attributes:
        model_name: registered MLflow model to serve. In ``params.yaml`` it is the base
            name (the ``register:`` section's unless set here); ``load_serve_config``
            turns it into the dataset's registered model, ``<base>-<dataset>``.
        alias: registry alias to serve.
        items: items table (title/year); default ``<processed_dir>/<dataset>/items.parquet``.
        availability: catalogue CSV/folder, ``tmdb``, or ``None`` for no availability data.
        region: default region of availability.
        year_tolerance: allowed year difference when matching titles to catalogues.
        inference_log: JSON-lines log of every request.
        inference_log_max_mb: the log is rotated past this size.
        inference_log_backups: rotated copies kept.
        max_body_bytes: larger request bodies are refused with 413.
        tmdb_cache_dir: on-disk cache of TMDB answers.
        tmdb_max_age_days: cached TMDB answers older than this are fetched again.
        availability_budget_ms: time one request may spend looking availability up; past
            it the remaining movies get the stale cache or ``availability: null``.
        breaker_failures: consecutive lookup failures that open the circuit breaker.
        breaker_cooldown_seconds: how long an open breaker skips the provider.
        reload_seconds: how often the registry alias is polled for a new champion
            (0 = never; ``POST /admin/reload`` from loopback still reloads).
        workers: BentoML worker processes (``cpu_count`` = one per core).
        port: default port of ``movierec serve``.
        recent_histories: whole histories of the users who rated since the champion's
            training data, which the service scores them from (``recsys.serving.recent``;
            written by the drift monitor); default
            ``data/incoming/<dataset>/recent.parquet``. No file: every user is served
            from the trained rows. Re-read when it changes, every ``reload_seconds``.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    model_name: str = MODEL_NAME
    alias: str = MODEL_ALIAS
    items: str | None = None
    availability: str | None = None
    region: str = DEFAULT_REGION
    year_tolerance: int = Field(1, ge=0, le=5)
    inference_log: str = "data/inference/log.jsonl"
    inference_log_max_mb: float = Field(50.0, gt=0)
    inference_log_backups: int = Field(3, ge=0, le=100)
    max_body_bytes: int = Field(64 * 1024, ge=1024)
    tmdb_cache_dir: str = "data/external/tmdb"
    tmdb_max_age_days: float = Field(7.0, gt=0)
    availability_budget_ms: float = Field(300.0, gt=0)
    breaker_failures: int = Field(3, ge=1)
    breaker_cooldown_seconds: float = Field(30.0, gt=0)
    reload_seconds: float = Field(30.0, ge=0)
    workers: Annotated[int, Field(ge=1)] | Literal["cpu_count"] = "cpu_count"
    port: int = Field(3000, ge=1, le=65535)
    recent_histories: str | None = None


def load_serve_config(params_path: str | Path | None = None, dataset: str | None = None
                      ) -> tuple[ServeConfig, dict[str, Any]]:
    """``(serve config, data section)`` of the validated ``params.yaml``
    (``$MOVIEREC_PARAMS`` overrides the path) for ``dataset`` (else ``$MOVIEREC_DATASET``,
    else ``data.dataset``): one champion per dataset, so the dataset names the registered
    model to serve and, in the data section, where its tables are."""
    # recsys.params composes ServeConfig into its tree, so it is imported here, not on top
    from recsys.params import load

    path = params_path or os.environ.get("MOVIEREC_PARAMS", "params.yaml")
    params = load(path)
    chosen = dataset or os.environ.get(DATASET_ENV) or params.data.dataset
    serve = params.serve.model_copy(
        update={"model_name": registered_name(params.serve.model_name, chosen)})
    return serve, {**params.data.model_dump(), "dataset": chosen}
