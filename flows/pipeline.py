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
from pathlib import Path
from typing import Any

from prefect import flow, get_run_logger
from prefect.artifacts import create_link_artifact, create_markdown_artifact
from prefect.states import Failed

from flows import steps
from recsys.monitoring.incoming import incoming_path
from recsys.params import load_params, with_profile


def _leaderboard_notes(board: dict[str, Any], trained: dict[str, Any], test_path: str,
                       eval_cfg: dict[str, Any]) -> str:
    """The leaderboard table followed by what it was scored on (test users and ratings,
    protocol) and every variant not trained with its reason; also written to
    ``leaderboard.md``."""
    import pandas as pd

    users = pd.read_parquet(test_path, columns=["user_id"])["user_id"]
    lines = [board["markdown"], "",
             f"Evaluated on {len(users):,} test ratings of {users.nunique():,} users "
             f"(protocol {eval_cfg.get('protocol', 'ms-stratified')}, seed "
             f"{eval_cfg.get('seed', 42)})."]
    not_trained = {**trained.get("skipped", {}), **trained.get("failed", {})}
    if not_trained:
        lines += ["", "| variant | not trained |", "|:--|:--|"]
        lines += [f"| {variant} | {reason} |" for variant, reason in not_trained.items()]
    markdown = "\n".join(lines)
    (Path(board["report_dir"]) / "leaderboard.md").write_text(markdown + "\n")
    return markdown


def _link(path: str | None) -> str | None:
    return Path(path).resolve().as_uri() if path else None


def _artifact_key(text: str) -> str:
    # artifact keys: lowercase letters, numbers and dashes
    return "".join(c if c.isalnum() else "-" for c in text.lower()).strip("-")


def _validation_failed(quality: dict[str, Any], what: str = "the dataset") -> Any:
    """Publish why validation stopped the run (artifacts) and the flow's failed state."""
    message = f"validation of {what} failed:\n{quality['summary']}"
    create_markdown_artifact(
        key="validation-failure", description="Why the pipeline stopped",
        markdown=f"# Validation failed\n\n```\n{message}\n```\n",
    )
    if quality.get("docs_index"):
        create_link_artifact(key="data-quality-report", link=_link(quality["docs_index"]) or "",
                             link_text="Data Docs")
    return Failed(message=message)


def evaluation_key(data_digest: str, evaluate_settings: dict[str, Any], ratings_digest: str) -> str:
    """Identifies the evaluation data: same key = same test ratings and k."""
    payload = json.dumps({"data": data_digest, "ratings": ratings_digest, **evaluate_settings},
                         sort_keys=True, default=str)
    return hashlib.sha256(payload.encode()).hexdigest()[:16]


#: What a run trains when neither the caller nor ``params.yaml`` says.
DEFAULT_DATASET = "ml-100k"
DEFAULT_MODELS = ["popularity"]


def metrics_path(params: dict[str, Any], dataset: str, variants: list[str], report_dir: str,
                 other_ratings: str | None) -> str:
    """Where the run's metrics go: ``metrics.json``, the file DVC tracks, only for the run
    ``params.yaml`` describes (its dataset and variants, no other ratings); any other run
    (``--models a,b``, another dataset, a new batch) writes beside its leaderboard instead
    of overwriting the tracked figures."""
    data_cfg = params.get("data") or {}
    train_cfg = params.get("train") or {}
    default = (dataset == str(data_cfg.get("dataset", DEFAULT_DATASET))
               and sorted(variants) == sorted(train_cfg.get("models") or DEFAULT_MODELS)
               and not other_ratings)
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
        params_path: the parameter file.
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
        profile: a ``profiles:`` entry of ``params.yaml`` laid over its top level (e.g.
            ``large`` for big data).

    Returns:
        The run summary (a dict), or a ``Failed`` state when validation fails.
    """
    from flows.runtime import task_runner
    from recsys.tracking.mlflow_runs import data_hash, digest_of, git_commit, resolve_tracking_uri

    logger = get_run_logger()
    params = with_profile(load_params(params_path), profile)
    data_cfg = params.get("data") or {}
    dataset = dataset or str(data_cfg.get("dataset", DEFAULT_DATASET))
    raw_dir = str(data_cfg.get("raw_dir", "data/raw"))
    processed_dir = str(data_cfg.get("processed_dir", "data/processed"))
    train_cfg = dict(params.get("train") or {})
    eval_cfg = dict(params.get("evaluate") or {})
    register_cfg = dict(params.get("register") or {})
    filter_cfg = dict(params.get("filter") or {})
    variants = list(models or train_cfg.get("models") or DEFAULT_MODELS)
    k = int(eval_cfg.get("k", 10))
    seed = int(eval_cfg.get("seed", 42))
    metric = str(register_cfg.get("metric", f"ndcg_at_{k}"))
    direction = str(register_cfg.get("direction", "maximize"))
    uri = resolve_tracking_uri(tracking_uri)

    tables = dict(steps.ingest(dataset, raw_dir, processed_dir, source))
    if ratings_path:
        tables["ratings"] = str(Path(ratings_path).resolve())

    quality = steps.validate(tables, dataset)
    if not quality["success"]:
        return _validation_failed(quality)

    if extra_ratings:
        # the new ratings pass the same per-row checks, as a batch (no volume bounds)
        extra = {"ratings": str(Path(extra_ratings).resolve()), "items": tables["items"]}
        batch_quality = steps.validate(extra, dataset, "reports/data-quality/batches", batch=True)
        if not batch_quality["success"]:
            return _validation_failed(batch_quality, f"{extra_ratings} (--extra-ratings)")
        tables["ratings"] = steps.cached_call(
            steps.combine_task, lambda path: [path], ratings_path=tables["ratings"],
            extra_path=extra["ratings"], out_dir=f"data/interim/{dataset}/combined")
        logger.info("training on the dataset plus %s", extra_ratings)

    filtered = steps.filter_shilling(tables["ratings"], dataset, filter_cfg)
    split = steps.cached_call(
        steps.split_task, lambda r: r.values(), ratings_path=filtered["ratings"],
        out_dir=f"data/interim/{dataset}/split", protocol=str(eval_cfg.get("protocol", "ms-stratified")),
        seed=seed, test_size=float(eval_cfg.get("test_size", 0.25)),
    )
    workers = int(train_cfg.get("parallelism", 2))
    trained = steps.train.with_options(
        task_runner=task_runner(runner, address=dask_address, workers=workers)
    )(variants, {v: dict(train_cfg.get(v) or {}) for v in variants}, split, tables["items"],
      f"models/{dataset}", k, seed, train_cfg.get("memory_budget_gb"), workers,
      dict(train_cfg.get("skip") or {}))
    report_dir = f"reports/evaluation/{dataset}"
    board = steps.evaluate(trained["results"], metric, direction, report_dir,
                           metrics_file=metrics_path(params, dataset, variants, report_dir,
                                                     ratings_path or extra_ratings))
    board["markdown"] = _leaderboard_notes(board, trained, split["test"], eval_cfg)
    create_markdown_artifact(
        key=_artifact_key(f"leaderboard-{dataset}"), description=f"Leaderboard by {metric}",
        markdown=f"# Leaderboard ({dataset}, by {metric})\n\n{board['markdown']}\n",
    )

    digest = data_hash(tables["ratings"])
    eval_key = evaluation_key(digest, {**eval_cfg, "filter": filter_cfg},
                              digest_of(split["test"]))
    pipeline_params = {"dataset": dataset, "models": variants, "evaluate": eval_cfg,
                       "filter": filter_cfg, "register": register_cfg, "runner": runner}
    registered = steps.register(
        trained["results"], board, dataset=dataset, data_digest=digest, commit=git_commit(),
        pipeline_params=pipeline_params, evaluation_key=eval_key, settings=register_cfg,
        split=split, items_path=tables["items"], k=k, tracking_uri=uri,
        reports=[board["report_dir"]],
    )
    decision = registered["decision"]

    bento: dict[str, Any] = {"bento": None, "skipped": True}
    if skip_package:
        logger.info("packaging skipped (--skip-package)")
    else:
        bento = steps.package(decision.get("champion_after"), uri, params_path)

    incoming = incoming_path(dataset)
    current = str(incoming) if incoming.is_file() else split["test"]
    drift = steps.monitor(split["train"], current, tables["items"],
                          name=f"pipeline-{dataset}", params_path=params_path)

    links = {
        "data-quality": quality.get("docs_index"),
        "evaluation": str(Path(board["report_dir"]) / "leaderboard.md"),
        "drift": drift.get("report"),
    }
    for name, path in links.items():
        if path:
            create_link_artifact(key=_artifact_key(f"{name}-report"), link=_link(path) or "",
                                 link_text=f"{name} report", description=f"{name} report of this run")
    summary = {
        "dataset": dataset,
        "leaderboard": board["records"],
        "leaderboard_markdown": board["markdown"],
        "best": board["best"],
        "decision": decision,
        "tracking_uri": uri,
        "mlflow_run_id": registered["tracked"]["parent_run_id"],
        "experiment_id": registered["tracked"]["experiment_id"],
        "reports": {**links, "metrics": board["metrics_file"]},
        "bento": bento.get("bento"),
        "drift": {k: drift.get(k) for k in ("drift_detected", "retrain", "drift_share", "reason")},
        "failed": trained["failed"],
        "skipped": trained["skipped"],
        "validation": quality["summary"],
    }
    create_markdown_artifact(
        key=_artifact_key(f"promotion-{dataset}"), description="Registry decision",
        markdown=f"# Registry\n\n{decision['summary']}\n",
    )
    return summary
