"""Filter: move suspected shilling profiles' ratings to a quarantine table."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
from prefect import flow, get_run_logger, task

from flows.caching import Outputs, cached_call, content_key
from recsys.data.tables import compact_ratings, write_table_file
from recsys.jsonable import json_default
from recsys.shilling.filter import FilterConfig, filter_ratings


@dataclass(frozen=True)
class Filtered:
    """The ratings the rest of the pipeline uses (``ratings``), and what was removed."""

    ratings: str
    quarantined: str | None = None
    report: str | None = None
    removed_rows: int = 0
    skipped: bool = False
    outputs: Outputs = Outputs()


@task(cache_key_fn=content_key, persist_result=True)
def filter_task(ratings_path: str, out_dir: str, report_dir: str, config: FilterConfig) -> Filtered:
    """Drop suspected shilling profiles; write the kept and quarantined ratings and a report."""
    ratings = pd.read_parquet(ratings_path)
    result = filter_ratings(ratings, threshold=config.threshold,
                            max_removed_share=config.max_removed_share, seed=config.seed,
                            detector=config.detector, calibration=config.calibration)
    out, reports = Path(out_dir), Path(report_dir)
    kept = write_table_file(compact_ratings(result.kept), out / "ratings.parquet")
    quarantined = write_table_file(compact_ratings(result.quarantined),
                                   out / "quarantined.parquet")
    reports.mkdir(parents=True, exist_ok=True)
    report = result.report
    report_path = reports / ("filter.json" if isinstance(report, Mapping) else "filter.md")
    report_path.write_text(json.dumps(report, indent=2, default=json_default)
                           if isinstance(report, Mapping) else str(report))
    return Filtered(ratings=str(kept), quarantined=str(quarantined), report=str(report_path),
                    removed_rows=int(len(ratings) - len(result.kept)),
                    outputs=Outputs.of([kept, quarantined, report_path]))


@flow(name="filter")
def filter_shilling(ratings_path: str, dataset: str, config: FilterConfig,
                    interim_dir: str = "data/interim", report_dir: str = "reports/shilling") -> Filtered:
    """Filter suspected shilling profiles under the ``filter:`` section ``config``; the
    ratings path the rest of the pipeline uses."""
    logger = get_run_logger()
    if not config.enabled:
        logger.info("shilling filter disabled in params.yaml: using all ratings")
        return Filtered(ratings=ratings_path, skipped=True)
    outcome: Filtered = cached_call(
        filter_task, lambda r: r.outputs, ratings_path=ratings_path,
        out_dir=f"{interim_dir}/{dataset}/filtered", report_dir=f"{report_dir}/{dataset}",
        config=config,
    )
    logger.info("shilling filter removed %d rating(s); report %s", outcome.removed_rows,
                outcome.report)
    return outcome
