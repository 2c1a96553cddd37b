"""The monitoring steps of the pipeline: new ratings joined to the data, and the drift check.

The other stages live in ``flows.stages`` (one module each).
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

from prefect import flow, get_run_logger, task
from prefect.cache_policies import NO_CACHE

from flows.caching import content_key


def available(module: str) -> bool:
    """True when ``module`` can be imported."""
    try:
        return importlib.util.find_spec(module) is not None
    except ModuleNotFoundError:
        return False


@task(cache_key_fn=content_key, persist_result=True, retries=2, retry_delay_seconds=1)
def combine_task(ratings_path: str, extra_path: str, out_dir: str) -> str:
    """The validated ratings plus a new batch (``recsys.data.prepare.merge_new_ratings``)."""
    import pandas as pd

    from recsys.data.prepare import merge_new_ratings

    def read(path: str) -> pd.DataFrame:
        return pd.read_parquet(path) if path.endswith(".parquet") else pd.read_csv(path)

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    target = out / "ratings.parquet"
    merge_new_ratings(read(ratings_path), read(extra_path)).to_parquet(target, index=False)
    return str(target.resolve())


# -- monitor -------------------------------------------------------------------------------
# Not cached: the decision also depends on the cooldown state file and the current time.
@task(cache_policy=NO_CACHE)
def drift_task(reference_path: str, current_path: str, items_path: str | None,
               report_dir: str, name: str, config: Any) -> dict[str, Any]:
    """Compare a batch of ratings with the training snapshot (``recsys.monitoring.drift.decide``)
    under ``config`` (a ``MonitorConfig``: thresholds, cooldown, critical columns)."""
    import pandas as pd

    from recsys.monitoring.drift import decide

    decision = decide(pd.read_parquet(reference_path), pd.read_parquet(current_path),
                      items=pd.read_parquet(items_path) if items_path else None,
                      config=config, report_dir=Path(report_dir), name=name)
    return decision.as_json()


@flow(name="monitor")
def monitor(reference_path: str, current_path: str, items_path: str | None = None,
            report_dir: str = "reports/drift", name: str = "pipeline",
            params_path: str = "params.yaml") -> dict[str, Any]:
    """Drift of ``current_path`` ratings against ``reference_path``; the retraining decision
    under the ``monitor:`` section of ``params_path``."""
    logger = get_run_logger()
    if not available("recsys.monitoring.drift"):
        logger.warning("monitoring not available (recsys.monitoring.drift missing): skipped")
        return {"skipped": True, "report": None}
    if not Path(current_path).is_file():
        logger.warning("no current batch at %s: monitoring skipped", current_path)
        return {"skipped": True, "report": None}
    from recsys.monitoring.drift import MonitorConfig

    config = MonitorConfig.from_params(params_path)
    decision = drift_task(reference_path, current_path, items_path, report_dir, name, config)
    logger.info("drift: %s (report %s)", decision.get("reason"), decision.get("report"))
    return {**decision, "skipped": False}
