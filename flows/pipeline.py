"""The top-level ``pipeline`` flow: ingest -> validate -> filter -> train -> evaluate ->
register -> package -> monitor.

A failing validation ends the run in a ``Failed`` state whose message is the validation
summary; nothing after it runs, so nothing is registered. Each run publishes Prefect
artifacts: the leaderboard as a markdown table and links to the data-quality, evaluation
and drift reports.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import pandas as pd
from prefect import flow, get_run_logger
from prefect.artifacts import create_link_artifact, create_markdown_artifact
from prefect.settings import get_current_settings
from prefect.states import Failed

from flows.caching import cached_call
from flows.dask_cluster import check_cluster, run_folders
from flows.monitor import monitor
from flows.runtime import task_runner
from flows.stages.combine import combine_task
from flows.stages.evaluate import Board, evaluate
from flows.stages.filter import filter_shilling
from flows.stages.ingest import ingest
from flows.stages.package import Packaged, package
from flows.stages.register import register
from flows.stages.train import Training, split_task, train
from flows.stages.validate import Quality, validate
from recsys.evaluation.search import describe
from recsys.models import MODELS
from recsys.monitoring.incoming import incoming_path
from recsys.params import EvaluateConfig, Params, load
from recsys.reporting.runs import record_run
from recsys.tracking.mlflow_runs import data_hash, digest_of, git_commit, resolve_tracking_uri


def _leaderboard_notes(board: Board, training: Training, test_path: str,
                       evaluation: EvaluateConfig) -> Board:
    """The board whose markdown is the leaderboard table followed by what it was scored on
    (test users and ratings, protocol) and every variant not trained with its reason; the
    same text is written to ``leaderboard.md``."""
    users = pd.read_parquet(test_path, columns=["user_id"])["user_id"]
    lines = [board.markdown, "",
             f"Evaluated on {len(users):,} test ratings of {users.nunique():,} users "
             f"(protocol {evaluation.protocol}, seed {evaluation.seed})."]
    searched = [r.search for r in training.results if r.search is not None]
    if searched:
        trials = Path(board.report_dir) / "trials.csv"
        lines += ["", f"Hyperparameter search (settings chosen on a validation split of the "
                      f"training ratings; every trial in `{trials}`):",
                  "", "| variant | trials | chosen |", "|:--|--:|:--|"]
        lines += [f"| {s.variant} | {len(s.trials)} | {describe(s)} |" for s in searched]
    not_trained = {**training.skipped, **training.failed}
    if not_trained:
        lines += ["", "| variant | not trained |", "|:--|:--|"]
        lines += [f"| {variant} | {reason} |" for variant, reason in not_trained.items()]
    markdown = "\n".join(lines)
    (Path(board.report_dir) / "leaderboard.md").write_text(markdown + "\n")
    return replace(board, markdown=markdown)


def _link(path: str | None) -> str | None:
    return Path(path).resolve().as_uri() if path else None


def _artifact_key(text: str) -> str:
    # artifact keys: lowercase letters, numbers and dashes
    return "".join(c if c.isalnum() else "-" for c in text.lower()).strip("-")


def _validation_failed(quality: Quality, what: str = "the dataset") -> Any:
    """Publish why validation stopped the run (artifacts) and the flow's failed state."""
    message = f"validation of {what} failed:\n{quality.summary}"
    create_markdown_artifact(
        key="validation-failure", description="Why the pipeline stopped",
        markdown=f"# Validation failed\n\n```\n{message}\n```\n",
    )
    if quality.docs_index:
        create_link_artifact(key="data-quality-report", link=_link(quality.docs_index) or "",
                             link_text="Data Docs")
    return Failed(message=message)


def evaluation_key(data_digest: str, evaluate_settings: dict[str, Any], ratings_digest: str) -> str:
    """Identifies the evaluation data: same key = same test ratings and k."""
    payload = json.dumps({"data": data_digest, "ratings": ratings_digest, **evaluate_settings},
                         sort_keys=True, default=str)
    return hashlib.sha256(payload.encode()).hexdigest()[:16]


def metrics_path(params: Params, dataset: str, variants: Sequence[str], report_dir: str,
                 other_ratings: str | None) -> str:
    """Where the run's metrics go: ``metrics.json``, the file DVC tracks, only for the run
    ``params.yaml`` describes (its dataset and variants, no other ratings); any other run
    (``--models a,b``, another dataset, a new batch) writes beside its leaderboard instead
    of overwriting the tracked figures."""
    default = (dataset == params.data.dataset
               and sorted(variants) == sorted(params.train.models) and not other_ratings)
    return "metrics.json" if default else str(Path(report_dir) / "metrics.json")


@flow(name="pipeline", log_prints=True)
def pipeline(
    dataset: str | None = None,
    models: list[str] | None = None,
    params_path: str = "params.yaml",
    tracking_uri: str | None = None,
    runner: str = "local",
    dask_address: str | None = None,
    skip_package: bool = False,
    source: str | None = None,
    ratings_path: str | None = None,
    extra_ratings: str | None = None,
    profile: str | None = None,
) -> Any:
    """Run every step of the movierec pipeline.

    Args:
        dataset: registry name (default ``data.dataset`` of ``params.yaml``).
        models: variants to train (default ``train.models``).
        params_path: the parameter file, validated once here (``recsys.params.load``).
        tracking_uri: MLflow store (default ``$MLFLOW_TRACKING_URI`` or ``sqlite:///mlflow.db``).
        runner: ``local`` or ``dask`` (see ``flows.runtime.task_runner``).
        dask_address: scheduler of an existing Dask cluster.
        skip_package: do not build the Bento.
        source: where to fetch raw data from (``recsys.data.fetch.fetch``'s ``source``).
        ratings_path: a ratings table (CSV/Parquet) to use instead of the prepared one, e.g.
            a new batch; it goes through validation like the prepared table.
        extra_ratings: new ratings to train on together with the validated dataset (the
            retraining that drift triggers); validated first as a batch, as ``movierec
            monitor`` does.
        profile: a profile of the parameter file's ``profiles:`` section, merged over it
            (default ``$MOVIEREC_PROFILE``).

    Returns:
        The run summary (a dict), or a ``Failed`` state when validation fails.
    """
    logger = get_run_logger()
    params = load(params_path, profile)
    dataset = dataset or params.data.dataset
    variants = list(models or params.train.models)
    unknown = [v for v in variants if v not in MODELS]
    if unknown:
        raise ValueError(f"unknown model(s) {', '.join(unknown)}; choose from: {', '.join(MODELS)}")
    evaluation, register_cfg, filter_cfg = params.evaluate, params.register_, params.filter
    k, seed = evaluation.k, evaluation.seed
    metric = register_cfg.metric_for(k)
    uri = resolve_tracking_uri(tracking_uri)

    if runner == "dask" and dask_address:
        # before any work: a wrong address or workers without the shared storage fail now,
        # not after ingest and validation, and not as a FileNotFoundError inside a task
        info = check_cluster(dask_address, run_folders(
            dataset, params.data.processed_dir, get_current_settings().results.local_storage_path))
        logger.info("Dask cluster at %s: %d worker(s) see the shared storage", info.address,
                    len(info.workers))

    tables = ingest(dataset, params.data.raw_dir, params.data.processed_dir, source)
    ratings = str(Path(ratings_path).resolve()) if ratings_path else tables.ratings

    quality = validate(ratings, tables.items, tables.users, dataset, params.validate_)
    if not quality.success:
        return _validation_failed(quality)

    if extra_ratings:
        # the new ratings pass the same per-row checks, as a batch (no volume bounds)
        extra = str(Path(extra_ratings).resolve())
        batch_quality = validate(extra, tables.items, None, dataset, params.validate_,
                                 docs_dir="reports/data-quality/batches", batch=True)
        if not batch_quality.success:
            return _validation_failed(batch_quality, f"{extra_ratings} (--extra-ratings)")
        ratings = cached_call(
            combine_task, lambda path: [path], ratings_path=ratings,
            extra_path=extra, out_dir=f"data/interim/{dataset}/combined")
        logger.info("training on the dataset plus %s", extra_ratings)

    filtered = filter_shilling(ratings, dataset, filter_cfg)
    split = cached_call(
        split_task, lambda s: s.outputs, ratings_path=filtered.ratings,
        out_dir=f"data/interim/{dataset}/split", protocol=evaluation.protocol,
        seed=seed, test_size=evaluation.test_size,
    )
    train_split, items_path, models_dir = split, tables.items, f"models/{dataset}"
    if runner == "dask":  # workers have their own working directory: absolute paths
        train_split = replace(split, train=str(Path(split.train).resolve()),
                              test=str(Path(split.test).resolve()))
        items_path, models_dir = str(Path(items_path).resolve()), str(Path(models_dir).resolve())
    trained = train.with_options(
        task_runner=task_runner(runner, address=dask_address, workers=params.train.parallelism)
    )(params.train, train_split, items_path, models_dir, k, seed, variants)
    report_dir = f"reports/evaluation/{dataset}"
    board = evaluate(trained.results, metric, register_cfg.direction, k, report_dir,
                     metrics_file=metrics_path(params, dataset, variants, report_dir,
                                               ratings_path or extra_ratings))
    board = _leaderboard_notes(board, trained, split.test, evaluation)
    create_markdown_artifact(
        key=_artifact_key(f"leaderboard-{dataset}"), description=f"Leaderboard by {metric}",
        markdown=f"# Leaderboard ({dataset}, by {metric})\n\n{board.markdown}\n",
    )

    digest = data_hash(ratings)
    eval_cfg = evaluation.model_dump(mode="json")
    filter_json = filter_cfg.model_dump(mode="json")
    eval_key = evaluation_key(digest, {**eval_cfg, "filter": filter_json}, digest_of(split.test))
    register_json = register_cfg.model_dump(mode="json")
    pipeline_params = {"dataset": dataset, "models": variants, "evaluate": eval_cfg,
                       "filter": filter_json, "register": register_json, "runner": runner,
                       "search": params.train.search.model_dump(mode="json")}
    registered = register(
        trained.results, board, dataset=dataset, data_digest=digest, commit=git_commit(),
        pipeline_params=pipeline_params, evaluation_key=eval_key, settings=register_cfg,
        split=split, items_path=tables.items, k=k, tracking_uri=uri,
        reports=[board.report_dir],
    )
    decision = registered["decision"]

    bento = Packaged(None)
    if skip_package:
        logger.info("packaging skipped (--skip-package)")
    else:
        bento = package(decision.get("champion_after"), uri, params_path, tables.items, dataset)

    incoming = incoming_path(dataset)
    current = str(incoming) if incoming.is_file() else split.test
    drift = monitor(current, dataset, items_path=tables.items, decide_only=True,
                    skip_validation=True, params_path=params_path,
                    processed_dir=params.data.processed_dir,
                    tracking_uri=uri, name=f"pipeline-{dataset}")

    links = {
        "data-quality": quality.docs_index,
        "evaluation": str(Path(board.report_dir) / "leaderboard.md"),
        "drift": drift.get("report"),
    }
    for name, path in links.items():
        if path:
            create_link_artifact(key=_artifact_key(f"{name}-report"), link=_link(path) or "",
                                 link_text=f"{name} report", description=f"{name} report of this run")
    summary = {
        "dataset": dataset,
        "leaderboard": board.records,
        "leaderboard_markdown": board.markdown,
        "best": board.best,
        "decision": decision,
        "tracking_uri": uri,
        "mlflow_run_id": registered["tracked"]["parent_run_id"],
        "experiment_id": registered["tracked"]["experiment_id"],
        "reports": {**links, "metrics": board.metrics_file},
        "bento": bento.bento,
        "drift": {k: drift.get(k) for k in ("drift_detected", "retrain", "drift_share", "reason")},
        "failed": trained.failed,
        "skipped": trained.skipped,
        "validation": quality.summary,
    }
    create_markdown_artifact(
        key=_artifact_key(f"promotion-{dataset}"), description="Registry decision",
        markdown=f"# Registry\n\n{decision['summary']}\n",
    )
    # for the team dashboard (`movierec report`)
    record_run(summary, shilling_report=None if filtered.skipped else filtered.report)
    return summary
