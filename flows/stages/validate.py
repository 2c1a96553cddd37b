"""Validate: the Great Expectations gate in front of everything that learns from the data."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from prefect import flow, get_run_logger, task

from flows.caching import content_key
from recsys.validation.suites import DEFAULT_SUITES_DIR, ValidateConfig
from recsys.validation.validate import validate_tables


@dataclass(frozen=True)
class Quality:
    """The outcome of validation: ``summary`` says what failed, ``docs_index`` is the Data
    Docs page."""

    success: bool
    summary: str
    n_failed: int
    docs_index: str | None


# the key sees the suites' files (suites_dir, by content) and the validate: section (config),
# which builds the suite of a table whose file is missing
@task(cache_key_fn=content_key, persist_result=True)
def validate_task(ratings_path: str, items_path: str | None, users_path: str | None,
                  dataset: str, docs_dir: str, suites_dir: str, config: ValidateConfig,
                  batch: bool = False) -> Quality:
    """Check the tables with the Great Expectations suites of ``recsys.validation``
    (``batch``: new ratings only, without the whole-dataset volume bounds)."""
    result = validate_tables(ratings_path, items_path, users_path, dataset=dataset,
                             docs_dir=Path(docs_dir), suites_dir=Path(suites_dir),
                             config=config, batch=batch)
    return Quality(success=bool(result.success), summary=result.summary,
                   n_failed=len(result.failures),
                   docs_index=str(result.docs_index) if result.docs_index else None)


@flow(name="validate")
def validate(ratings_path: str, items_path: str | None, users_path: str | None, dataset: str,
             config: ValidateConfig, *, docs_dir: str | None = None,
             suites_dir: str = str(DEFAULT_SUITES_DIR), batch: bool = False) -> Quality:
    """Validate the prepared tables (or, with ``batch``, a batch of new ratings) under the
    ``validate:`` section ``config`` (Data Docs in ``docs_dir``, default ``config.docs_dir``)."""
    logger = get_run_logger()
    outcome: Quality = validate_task(ratings_path, items_path, users_path, dataset,
                                     docs_dir or config.docs_dir, suites_dir, config, batch)
    (logger.info if outcome.success else logger.error)(outcome.summary)
    return outcome
