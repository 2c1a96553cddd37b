"""The monitoring flow: validate a batch -> drift (data and served traffic) -> decide ->
retrain through the ``pipeline`` flow and its promotion rule -> record the decision.

``movierec monitor``, the scheduled ``hourly-monitor`` deployment (``flows.serve``) and
the pipeline's own monitor step all run this flow, against one reference
(``recsys.monitoring.incoming.monitoring_reference``: the data the champion's pipeline
trained on plus the batches retrains have learnt from). A batch joins those batches only
when its retrain completes; a batch that does not retrain is kept as pending
(``data/incoming/<dataset>/pending.parquet``): it counts towards how stale the champion is
and the next retrain learns from it; until then the service scores its users from their
whole histories (``data/incoming/<dataset>/recent.parquet``, ``recsys.serving.recent``).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd
from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE

from recsys.data.interactions import Interactions, read_ratings
from recsys.data.prepare import merge_new_ratings
from recsys.data.tables import read_table_file
from recsys.monitoring.drift import DEFAULT_REPORT_DIR, MonitorConfig, decide
from recsys.monitoring.features import comparable_served_lists, serving_reference
from recsys.monitoring.incoming import (
    add_pending,
    clear_pending,
    incoming_path,
    monitoring_reference,
    pending_path,
    read_pending,
    recent_path,
    staged_batch,
    write_recent,
)
from recsys.monitoring.served_log import read_inference_log
from recsys.monitoring.state import DEFAULT_STATE, record_retrain
from recsys.tracking.mlflow_runs import resolve_tracking_uri
from recsys.tracking.registry import load_champion
from recsys.validation.validate import validate_tables

#: The decision line of a batch that validation rejected (nothing compared or retrained).
REJECTED: dict[str, Any] = {"drift_detected": None, "retrain": False, "drift_share": None,
            "drifted_columns": [], "report": None, "reason": "batch rejected by validation"}


class RetrainError(RuntimeError):
    """The retraining pipeline did not complete; the batch was not added to the incoming data."""


@task(cache_policy=NO_CACHE)
def validate_batch(current_path: str, items_path: str | None, dataset: str,
                   docs_dir: str = "reports/data-quality/batches") -> dict[str, Any]:
    """The pipeline's Great Expectations gate in batch mode (no volume bounds)."""

    result = validate_tables(current_path, items_path, dataset=dataset, batch=True,
                             docs_dir=Path(docs_dir))
    return {"success": bool(result.success), "summary": result.summary}


def _champion(tracking_uri: str | None, dataset: str) -> Any | None:
    """The registry's champion (``None`` when there is none yet: no quality or served-traffic
    check)."""
    try:

        return load_champion(tracking_uri=tracking_uri, dataset=dataset).recommender
    except Exception as exc:  # no registry or no champion yet
        get_run_logger().warning("no champion for the quality and serving checks (%s)", exc)
        return None


@task(cache_policy=NO_CACHE)
def drift_decision(current_path: str, dataset: str, reference: pd.DataFrame,
                   default_reference: bool, items_path: str | None, inference_log: str | None,
                   config: MonitorConfig, report_dir: str, state_path: str,
                   tracking_uri: str | None, name: str | None) -> dict[str, Any]:
    """Compare the batch (and served traffic) with ``reference`` (``default_reference``:
    the monitoring reference, whose pending batches count); the decision as JSON."""

    current = read_ratings(Path(current_path))
    items = read_table_file(Path(items_path), "items table") if items_path else None
    champion = _champion(tracking_uri, dataset)
    serving_ref = serving_cur = None
    if inference_log is not None:
        serving_cur = read_inference_log(Path(inference_log))
        if champion is not None:
            lengths = (comparable_served_lists(serving_cur)["items"].map(len).tolist()
                       if len(serving_cur) else [])
            serving_ref = serving_reference(champion, reference, list_lengths=lengths)

    def refit(frame: Any) -> Any:  # a fresh model of the champion's kind and configuration
        model: Any = champion
        return type(model)(model.config).fit(Interactions.from_frame(frame, items))

    # earlier batches no retrain took in count towards staleness (default reference only)
    pending = read_pending(pending_path(dataset)) if default_reference else None
    decision = decide(reference, current, items=items, serving_reference=serving_ref,
                      serving_current=serving_cur, config=config, report_dir=Path(report_dir),
                      state_path=Path(state_path), name=name, champion=champion,
                      refit=refit if champion is not None else None, pending=pending)
    return decision.as_json()


def retrain(dataset: str, current_path: str, params_path: str,
            tracking_uri: str | None) -> dict[str, Any]:
    """Run the ``pipeline`` flow on the dataset plus the incoming ratings, the pending
    batches (checked since the last retrain, not learnt yet) and the batch.

    They join the incoming ratings only when the pipeline completes (the pending ones are
    then cleared); a failed retrain leaves everything as it was, so the batch is still new
    data at the next check.
    """
    # cycle: flows.launch imports flows.pipeline, which imports this module
    from flows import launch

    batch = read_ratings(Path(current_path))
    pending = pending_path(dataset)
    earlier = read_pending(pending)
    if earlier is not None:  # the batches checked since the last retrain are learnt too
        batch = merge_new_ratings(earlier, batch)
    pipeline = launch.configured_pipeline()
    with staged_batch(incoming_path(dataset), batch) as extra:
        try:
            state: Any = pipeline(dataset=dataset, params_path=params_path,
                                  tracking_uri=tracking_uri, extra_ratings=str(extra),
                                  skip_package=True, return_state=True)
        except Exception as exc:  # the flow could not run at all
            raise RetrainError(f"retraining pipeline could not run: {exc}; the batch was not "
                               "added to the incoming data") from exc
        if not state.is_completed():
            raise RetrainError(f"retraining pipeline {state.name.lower()}: {state.message}; "
                               "the batch was not added to the incoming data")
    clear_pending(dataset)
    summary = state.result()
    return {"mlflow_run_id": summary.get("mlflow_run_id"), "decision": summary.get("decision"),
            "tracking_uri": summary.get("tracking_uri")}


def log_served_quality(quality: dict[str, float], tracking_uri: str | None, dataset: str) -> str:
    """Log the served window's recommendation-quality metrics to MLflow (experiment
    ``movierec-monitoring``); the run id."""
    import mlflow


    mlflow.set_tracking_uri(resolve_tracking_uri(tracking_uri))
    mlflow.set_experiment("movierec-monitoring")
    with mlflow.start_run(run_name=f"served-window-{dataset}") as run:
        mlflow.log_metrics({k: float(v) for k, v in quality.items()})
    return str(run.info.run_id)


@task(cache_policy=NO_CACHE)
def record(payload: dict[str, Any], report_dir: str) -> None:
    """Append the outcome (decision plus retrain) to ``monitor-runs.jsonl`` and publish it."""
    folder = Path(report_dir)
    folder.mkdir(parents=True, exist_ok=True)
    with (folder / "monitor-runs.jsonl").open("a") as fh:
        fh.write(json.dumps(payload, default=str) + "\n")
    create_markdown_artifact(
        key="monitor-decision", description="Monitoring decision",
        markdown="# Monitoring decision\n\n```json\n"
                 f"{json.dumps(payload, indent=2, default=str)}\n```\n")


@flow(name="monitor")
def monitor(
    current_path: str,
    dataset: str = "ml-100k",
    reference_path: str | None = None,
    items_path: str | None = None,
    inference_log: str | None = None,
    decide_only: bool = False,
    skip_validation: bool = False,
    params_path: str = "params.yaml",
    processed_dir: str = "data/processed",
    report_dir: str = str(DEFAULT_REPORT_DIR),
    state_path: str = str(DEFAULT_STATE),
    tracking_uri: str | None = None,
    name: str | None = None,
) -> dict[str, Any]:
    """Check a batch of new ratings and retrain when it pays.

    Args:
        current_path: the new ratings (CSV or Parquet).
        dataset: registry name.
        reference_path: another reference than ``monitoring_reference`` (tests, ad hoc).
        items_path: items table (default: the processed one, when present).
        inference_log: the service's inference log (served-traffic drift).
        decide_only: decide and record, but do not retrain.
        skip_validation: the batch was validated already.
        params_path: the parameter file (``monitor:`` section; the retrain's pipeline).
        processed_dir: processed tables root.
        report_dir: drift reports and decision logs.
        state_path: the cooldown state.
        tracking_uri: MLflow store of the registry.
        name: file stem of the reports.

    Returns:
        The decision (``recsys.monitoring.drift.DriftDecision.as_json``) plus ``retrain_run``
        when a retrain was decided (and ``retrain_error`` when it did not complete: the batch
        then stays out of the incoming data and no cooldown starts), or ``REJECTED`` with ``rejected`` and ``summary`` when
        validation refused the batch, or ``{"skipped": True, ...}`` when there is no batch.
    """
    logger = get_run_logger()
    if not Path(current_path).is_file():
        logger.info("no new batch at %s: nothing to monitor", current_path)
        return {"skipped": True, "reason": f"no batch at {current_path}", "report": None}
    default_items = Path(processed_dir) / dataset / "items.parquet"
    items = items_path or (str(default_items) if default_items.is_file() else None)
    if not skip_validation:
        quality = validate_batch(current_path, items, dataset)
        if not quality["success"]:
            logger.error("batch rejected by validation:\n%s", quality["summary"])
            rejected = {**REJECTED, "rejected": True, "summary": quality["summary"]}
            record(rejected, report_dir)
            return rejected
    config = MonitorConfig.from_params(params_path)
    reference = (read_ratings(Path(reference_path)) if reference_path
                 else monitoring_reference(dataset, Path(processed_dir)))
    payload = drift_decision(current_path, dataset, reference, reference_path is None, items,
                             inference_log, config, report_dir, state_path, tracking_uri, name)
    if payload.get("recommendation_quality"):
        payload["served_quality_run"] = log_served_quality(payload["recommendation_quality"],
                                                           tracking_uri, dataset)
    if payload["retrain"] and not decide_only:

        try:
            payload["retrain_run"] = retrain(dataset, current_path, params_path, tracking_uri)
        except RetrainError as exc:  # recorded and returned: the caller decides how to fail
            logger.error("%s", exc)
            payload["retrain_run"] = None
            payload["retrain_error"] = str(exc)
            record(payload, report_dir)
            return payload
        record_retrain(Path(state_path), config=config,
                       run=payload["retrain_run"].get("mlflow_run_id"))
    elif payload["retrain"]:
        payload["retrain_run"] = None
    elif not decide_only and reference_path is None:
        pending = add_pending(pending_path(dataset), read_ratings(Path(current_path)))
        write_recent(recent_path(dataset), reference, pending)
    logger.info("%s: %s", "drift" if payload["drift_detected"] else "no drift",
                payload["reason"])
    record(payload, report_dir)
    return payload
