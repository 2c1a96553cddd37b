"""The ``serve:`` section of ``params.yaml``: what the service serves and how."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from recsys.availability.provider import DEFAULT_REGION
from recsys.tracking.registry import MODEL_NAME

MODEL_ALIAS = "champion"


class ServeConfig(BaseModel):
    """The ``serve:`` section of ``params.yaml`` (environment variables override it).

    Attributes:
        model_name: registered MLflow model to serve (in ``params.yaml``: the registered
            model of the ``register:`` section unless set here).
        alias: registry alias to serve.
        items: items table (title/year); default ``<processed_dir>/<dataset>/items.parquet``.
        availability: catalogue CSV/folder, ``tmdb``, or ``None`` for no availability data.
        region: default region of availability.
        year_tolerance: allowed year difference when matching titles to catalogues.
        inference_log: JSON-lines log of every request.
        max_body_bytes: larger request bodies are refused with 413.
        tmdb_cache_dir: on-disk cache of TMDB answers.
        tmdb_max_age_days: cached TMDB answers older than this are fetched again.
        port: default port of ``movierec serve``.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    model_name: str = MODEL_NAME
    alias: str = MODEL_ALIAS
    items: str | None = None
    availability: str | None = None
    region: str = DEFAULT_REGION
    year_tolerance: int = Field(1, ge=0, le=5)
    inference_log: str = "data/inference/log.jsonl"
    max_body_bytes: int = Field(64 * 1024, ge=1024)
    tmdb_cache_dir: str = "data/external/tmdb"
    tmdb_max_age_days: float = Field(7.0, gt=0)
    port: int = Field(3000, ge=1, le=65535)
