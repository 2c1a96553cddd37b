"""The step flows of the pipeline; each task wraps one ``recsys`` (or ``bentos``) call.

Large objects (tables, models) pass between tasks as file paths; a cached step is found by
the content hash of those files plus its parameters (``flows.caching.content_key``).
Results persist under ``$PREFECT_HOME/storage`` so caching survives across runs in
ephemeral mode. Steps whose module has not landed are skipped with a logged reason, never
faked.
"""

from __future__ import annotations

import importlib.util
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from prefect import flow, get_run_logger, task
from prefect.cache_policies import NO_CACHE

from flows.caching import content_key, library_digest, missing_outputs

#: I/O steps retry: a flaky download or a locked file deserves another go.
IO_RETRIES = 2
IO_RETRY_DELAY = 3


def available(module: str) -> bool:
    """True when ``module`` can be imported (its area has landed)."""
    try:
        return importlib.util.find_spec(module) is not None
    except ModuleNotFoundError:
        return False


def cached_call(step: Any, outputs: Any, /, **kwargs: Any) -> Any:
    """Run ``step``; if its cached result names files that are gone, run it again for real."""
    result = step(**kwargs)
    gone = missing_outputs(outputs(result))
    if gone:
        get_run_logger().warning("cached %s result lost its files (%s): recomputing",
                                 step.name, ", ".join(gone))
        result = step.with_options(refresh_cache=True)(**kwargs)
    return result


# -- ingest --------------------------------------------------------------------------------
@task(retries=IO_RETRIES, retry_delay_seconds=IO_RETRY_DELAY, cache_policy=NO_CACHE)
def fetch_task(dataset: str, raw_dir: str, source: str | None) -> str:
    """Fetch the raw files (verified by sha256; a valid local cache is reused)."""
    from recsys.data.fetch import fetch

    result = fetch(dataset, cache_dir=Path(raw_dir), source=source)
    get_run_logger().info("fetched %s from %s into %s", dataset, result.source, result.path)
    return str(Path(raw_dir))


@task(retries=IO_RETRIES, retry_delay_seconds=IO_RETRY_DELAY, cache_key_fn=content_key,
      persist_result=True)
def prepare_task(dataset: str, raw_dir: str, processed_dir: str) -> dict[str, str]:
    """Write the canonical ratings/items/users tables."""
    from recsys.data.prepare import prepare

    tables = prepare(dataset, raw_dir=Path(raw_dir), out_dir=Path(processed_dir))
    return {name: str(tables.folder / f"{name}.parquet") for name in ("ratings", "items", "users")}


@flow(name="ingest")
def ingest(dataset: str, raw_dir: str, processed_dir: str, source: str | None = None) -> dict[str, str]:
    """Fetch and prepare ``dataset``; the paths of its tables."""
    raw = fetch_task(dataset, raw_dir, source)
    return cached_call(prepare_task, lambda r: r.values(), dataset=dataset, raw_dir=raw,
                       processed_dir=processed_dir)


# -- validate ------------------------------------------------------------------------------
@task(cache_key_fn=content_key, persist_result=True)
def validate_task(ratings_path: str, items_path: str | None, users_path: str | None,
                  dataset: str, docs_dir: str, batch: bool = False) -> dict[str, Any]:
    """Check the tables with the Great Expectations suites of ``recsys.validation``
    (``batch``: new ratings only, without the whole-dataset volume bounds)."""
    from recsys.validation.validate import validate_tables

    result = validate_tables(ratings_path, items_path, users_path, dataset=dataset,
                             docs_dir=Path(docs_dir), batch=batch)
    return {"success": bool(result.success), "summary": result.summary,
            "n_failed": len(result.failures),
            "docs_index": str(result.docs_index) if result.docs_index else None,
            "skipped": False}


@flow(name="validate")
def validate(tables: Mapping[str, str], dataset: str, docs_dir: str = "reports/data-quality",
             batch: bool = False) -> dict[str, Any]:
    """Validate the prepared tables (or, with ``batch``, a batch of new ratings); the outcome
    (``success``, ``summary``, ``docs_index``)."""
    logger = get_run_logger()
    if not available("recsys.validation.validate"):
        logger.warning("validation not available (recsys.validation.validate missing): skipped")
        return {"success": True, "summary": "validation not available: skipped", "skipped": True,
                "docs_index": None, "n_failed": 0}
    outcome = validate_task(tables["ratings"], tables.get("items"), tables.get("users"),
                            dataset, docs_dir, batch)
    (logger.info if outcome["success"] else logger.error)(outcome["summary"])
    return outcome


# -- filter (shilling) ---------------------------------------------------------------------
@task(cache_key_fn=content_key, persist_result=True)
def filter_task(ratings_path: str, out_dir: str, report_dir: str, threshold: float,
                max_removed_share: float, seed: int, detector: str = "ensemble",
                calibration: str = "reference") -> dict[str, Any]:
    """Drop suspected shilling profiles; write the kept and quarantined ratings and a report."""
    import pandas as pd

    from recsys.shilling.filter import filter_ratings

    ratings = pd.read_parquet(ratings_path)
    result = filter_ratings(ratings, threshold=threshold, max_removed_share=max_removed_share,
                            seed=seed, detector=detector, calibration=calibration)
    out, reports = Path(out_dir), Path(report_dir)
    out.mkdir(parents=True, exist_ok=True)
    reports.mkdir(parents=True, exist_ok=True)
    result.kept.to_parquet(out / "ratings.parquet", index=False)
    result.quarantined.to_parquet(out / "quarantined.parquet", index=False)
    report = result.report
    report_path = reports / ("filter.json" if isinstance(report, Mapping) else "filter.md")
    report_path.write_text(json.dumps(report, indent=2, default=str)
                           if isinstance(report, Mapping) else str(report))
    return {"ratings": str(out / "ratings.parquet"), "quarantined": str(out / "quarantined.parquet"),
            "report": str(report_path), "removed_rows": int(len(ratings) - len(result.kept)),
            "skipped": False}


@flow(name="filter")
def filter_shilling(ratings_path: str, dataset: str, settings: Mapping[str, Any],
                    interim_dir: str = "data/interim", report_dir: str = "reports/shilling") -> dict[str, Any]:
    """Filter suspected shilling profiles; the ratings path the rest of the pipeline uses."""
    logger = get_run_logger()
    if not settings.get("enabled", True):
        logger.info("shilling filter disabled in params.yaml: using all ratings")
        return {"ratings": ratings_path, "skipped": True, "report": None}
    if not available("recsys.shilling.filter"):
        logger.warning("shilling filter not available (recsys.shilling.filter missing): "
                       "using all ratings")
        return {"ratings": ratings_path, "skipped": True, "report": None}
    outcome = cached_call(
        filter_task, lambda r: [r["ratings"], r["report"]], ratings_path=ratings_path,
        out_dir=f"{interim_dir}/{dataset}/filtered", report_dir=f"{report_dir}/{dataset}",
        threshold=float(settings.get("threshold", 0.5)),
        max_removed_share=float(settings.get("max_removed_share", 0.05)),
        seed=int(settings.get("seed", 0)), detector=str(settings.get("detector", "ensemble")),
        calibration=str(settings.get("calibration", "reference")),
    )
    logger.info("shilling filter removed %d rating(s); report %s", outcome["removed_rows"],
                outcome["report"])
    return outcome


# -- train ---------------------------------------------------------------------------------
@task(cache_key_fn=content_key, persist_result=True)
def split_task(ratings_path: str, out_dir: str, protocol: str, seed: int,
               test_size: float) -> dict[str, str]:
    """Split the ratings into training and test tables (``recsys.evaluation.splits``)."""
    import pandas as pd

    from recsys.evaluation.splits import split_ratings

    split = split_ratings(pd.read_parquet(ratings_path), protocol, seed=seed, test_size=test_size)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    split.train.to_parquet(out / "train.parquet", index=False)
    split.test.to_parquet(out / "test.parquet", index=False)
    return {"train": str(out / "train.parquet"), "test": str(out / "test.parquet")}


@task(cache_key_fn=content_key, persist_result=True)
def train_variant(variant: str, params: dict[str, Any], train_path: str, test_path: str,
                  items_path: str, model_dir: str, k: int, seed: int) -> dict[str, Any]:
    """Fit and evaluate one variant (``recsys.evaluation.evaluate.fit_and_evaluate``), save it.

    The result records the saved folder's digest (``model_digest``): ``model_dir`` is one
    folder per variant whatever the parameters or data, so a cached result only describes
    the folder while the digests agree (see ``model_changed``).
    """
    import pandas as pd

    from recsys.evaluation.evaluate import fit_and_evaluate
    from recsys.tracking.mlflow_runs import digest_of, precision_recall_curve

    test = pd.read_parquet(test_path)
    model, metrics = fit_and_evaluate(variant, params, pd.read_parquet(train_path), test,
                                      pd.read_parquet(items_path), k=k, seed=seed)
    model.save(model_dir)
    curve = precision_recall_curve(model, test)
    (Path(model_dir) / "metrics.json").write_text(json.dumps(metrics, indent=2))
    return {"variant": variant, "params": params, "metrics": metrics, "model_dir": model_dir,
            "model_digest": digest_of(model_dir), "curve": curve.to_dict("records")}


def model_changed(result: Mapping[str, Any]) -> str | None:
    """Why a (cached) training result no longer describes its model folder, or ``None``.

    Training ``ease`` with parameters A, then B, then A again finds A's cached result while
    the folder holds B's model: the folder's digest tells them apart.
    """
    from recsys.tracking.mlflow_runs import digest_of

    folder = Path(result["model_dir"])
    if not folder.is_dir():
        return f"{folder} is gone"
    if digest_of(folder) != result.get("model_digest"):
        return f"{folder} now holds another model"
    return None


def _train_shape(train_path: str) -> Any:
    import pandas as pd

    from recsys.models.budget import data_shape

    return data_shape(pd.read_parquet(train_path, columns=["user_id", "item_id"]))


def _over_budget(variant: str, params: Mapping[str, Any], shape: Any,
                 budget_gb: float | None, parallelism: int) -> str | None:
    from recsys.models.budget import per_fit_budget, skip_reason

    return skip_reason(variant, params, shape, per_fit_budget(budget_gb, parallelism))


@flow(name="train")
def train(variants: Sequence[str], variant_params: Mapping[str, dict[str, Any]],
          split: Mapping[str, str], items_path: str, models_dir: str, k: int = 10,
          seed: int = 42, memory_budget_gb: float | None = None,
          parallelism: int = 1, skip: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Train every variant in parallel on the flow's task runner; a variant whose estimated
    fit memory exceeds its share of the budget (``recsys.models.budget``), or that ``skip``
    names (variant -> reason, e.g. a measured fit time a profile cannot afford), is skipped.

    Returns:
        ``{"results": [...], "failed": {variant: reason}, "skipped": {variant: reason}}``.
    """
    from recsys.models import MODELS

    logger = get_run_logger()
    skipped: dict[str, str] = {}
    futures = {}
    shape = None
    for variant in variants:
        if variant not in MODELS:
            skipped[variant] = "unknown model name"
            continue
        if not available(MODELS[variant].partition(":")[0]):
            skipped[variant] = "model not available (module missing)"
            logger.warning("model %s not available: skipped", variant)
            continue
        if skip and variant in skip:
            skipped[variant] = f"skipped: {skip[variant]}"
            logger.warning("%s: %s", variant, skipped[variant])
            continue
        shape = shape or _train_shape(split["train"])
        reason = _over_budget(variant, variant_params.get(variant) or {}, shape,
                              memory_budget_gb, parallelism)
        if reason:
            skipped[variant] = reason
            logger.warning("%s: %s", variant, reason)
            continue
        kwargs: dict[str, Any] = dict(variant=variant, params=dict(variant_params.get(variant) or {}),
                      train_path=split["train"], test_path=split["test"], items_path=items_path,
                      model_dir=f"{models_dir}/{variant}", k=k, seed=seed)
        futures[variant] = (train_variant.submit(**kwargs), kwargs)
    results: list[dict[str, Any]] = []
    failed: dict[str, str] = {}
    for variant, (future, kwargs) in futures.items():
        future.wait()
        state = future.state
        if not state.is_completed():
            failed[variant] = str(state.message or state.name)
            logger.error("training %s failed: %s", variant, failed[variant])
            continue
        result = future.result()
        stale = model_changed(result)
        if stale:
            logger.warning("cached %s result does not match its model (%s): retraining",
                           variant, stale)
            result = train_variant.with_options(refresh_cache=True)(**kwargs)
        results.append(result)
    return {"results": results, "failed": failed, "skipped": skipped}


# -- evaluate ------------------------------------------------------------------------------
@task(cache_policy=NO_CACHE)
def leaderboard_task(results: list[dict[str, Any]], metric: str, direction: str,
                     report_dir: str, metrics_file: str) -> dict[str, Any]:
    """The leaderboard table, ``metrics.json`` (DVC), and the metric and precision/recall plots."""
    import pandas as pd

    from recsys.tracking.mlflow_runs import plot_metric_bars, plot_precision_recall

    rows = [{"variant": r["variant"], **r["metrics"]} for r in results]
    board = pd.DataFrame(rows).sort_values(metric, ascending=direction == "minimize",
                                           kind="stable").reset_index(drop=True)
    board.insert(0, "rank", range(1, len(board) + 1))
    out = Path(report_dir)
    out.mkdir(parents=True, exist_ok=True)
    board.to_csv(out / "leaderboard.csv", index=False)
    shown = [c for c in ["rank", "variant", "ndcg_at_10", "precision_at_10", "recall_at_10",
                         "map_at_10", "hit_rate_at_10", "mrr", "coverage", "novelty", "rmse",
                         "fit_seconds", "recommend_seconds"] if c in board.columns]
    markdown = board[shown].to_markdown(index=False, floatfmt=".4f")
    (out / "leaderboard.md").write_text(markdown + "\n")
    curves = [{"variant": r["variant"], **point} for r in results for point in r["curve"]]
    pd.DataFrame(curves).to_csv(out / "precision_recall.csv", index=False)
    bars = plot_metric_bars(board, ["ndcg_at_10", "precision_at_10", "recall_at_10", "coverage"],
                            out / "metric_bars.png")
    pr = plot_precision_recall({r["variant"]: pd.DataFrame(r["curve"]) for r in results},
                               out / "precision_recall_at_k.png")
    best = board.iloc[0]
    metrics_payload = {
        "best": {"variant": str(best["variant"]), metric: float(best[metric])},
        "variants": {r["variant"]: {k: float(v) for k, v in r["metrics"].items()
                                    if k not in ("fit_seconds", "recommend_seconds")}
                     for r in results},
    }
    Path(metrics_file).write_text(json.dumps(metrics_payload, indent=2) + "\n")
    return {"best": str(best["variant"]), "markdown": markdown, "report_dir": str(out),
            "leaderboard": str(out / "leaderboard.csv"), "plots": [str(bars), str(pr)],
            "metrics_file": metrics_file, "records": board.to_dict("records")}


@flow(name="evaluate")
def evaluate(results: list[dict[str, Any]], metric: str, direction: str, report_dir: str,
             metrics_file: str = "metrics.json") -> dict[str, Any]:
    """Rank the variants by ``metric``; write the evaluation report, plots and ``metrics.json``."""
    if not results:
        raise RuntimeError("no variant was trained: nothing to evaluate")
    return leaderboard_task(results, metric, direction, report_dir, metrics_file)


# -- register ------------------------------------------------------------------------------
@task(cache_key_fn=content_key, persist_result=True, retries=IO_RETRIES,
      retry_delay_seconds=IO_RETRY_DELAY)
def track_task(results: list[dict[str, Any]], dataset: str, data_digest: str, commit: str | None,
               pipeline_params: dict[str, Any], leaderboard_path: str, plots: list[str],
               reports: list[str], tracking_uri: str, example_users: list[int]) -> dict[str, Any]:
    """Log the parent run and one nested run (with its pyfunc model) per variant to MLflow."""
    import pandas as pd

    from recsys.tracking.mlflow_runs import VariantResult, log_pipeline

    tracked = log_pipeline(
        [VariantResult(r["variant"], r["params"], r["metrics"], r["model_dir"], r["curve"])
         for r in results],
        dataset=dataset, data_digest=data_digest, commit=commit,
        pipeline_params=pipeline_params, example_users=example_users,
        leaderboard=pd.read_csv(leaderboard_path), plots=[Path(p) for p in plots],
        reports=[Path(p) for p in reports if p], tracking_uri=tracking_uri,
        run_name=f"pipeline-{dataset}",
    )
    return {"tracking_uri": tracked.tracking_uri, "experiment_id": tracked.experiment_id,
            "parent_run_id": tracked.parent_run_id,
            "variants": {name: {"run_id": v.run_id, "model_uri": v.model_uri}
                         for name, v in tracked.variants.items()}}


@task(cache_policy=NO_CACHE, retries=IO_RETRIES, retry_delay_seconds=IO_RETRY_DELAY)
def register_task(best: dict[str, Any], tracked: dict[str, Any], evaluation_key: str,
                  data_digest: str, settings: dict[str, Any], split: dict[str, str],
                  items_path: str, k: int, tracking_uri: str) -> dict[str, Any]:
    """Register the best variant as ``challenger``; promote it to ``champion`` if it wins."""
    from dataclasses import asdict

    import pandas as pd

    from recsys.evaluation.evaluate import refit_and_evaluate
    from recsys.tracking.mlflow_runs import digest_of
    from recsys.tracking.registry import MODEL_NAME, register_best

    metric = str(settings.get("metric", "ndcg_at_10"))

    def rescore(champion: Any) -> float:
        # the champion's configuration fitted on this run's training split, not the champion
        # as fitted: its training data may hold most of this split's test ratings
        _, metrics = refit_and_evaluate(champion, pd.read_parquet(split["train"]),
                                        pd.read_parquet(split["test"]),
                                        pd.read_parquet(items_path), k=k)
        return float(metrics[metric])

    variant = best["variant"]
    decision = register_best(
        tracked["variants"][variant]["model_uri"], run_id=tracked["variants"][variant]["run_id"],
        variant=variant, metrics=best["metrics"], evaluation_key=evaluation_key,
        data_hash=data_digest, model_hash=digest_of(best["model_dir"]), metric=metric,
        direction=str(settings.get("direction", "maximize")),
        min_improvement=float(settings.get("min_improvement", 0.0)), rescore=rescore,
        model_name=str(settings.get("model_name", MODEL_NAME)), tracking_uri=tracking_uri,
    )
    get_run_logger().info(decision.summary())
    return {**asdict(decision), "summary": decision.summary()}


@flow(name="register")
def register(results: list[dict[str, Any]], board: dict[str, Any], *, dataset: str,
             data_digest: str, commit: str | None, pipeline_params: dict[str, Any],
             evaluation_key: str, settings: dict[str, Any], split: dict[str, str],
             items_path: str, k: int, tracking_uri: str, reports: list[str]) -> dict[str, Any]:
    """Track the run in MLflow and register/promote the best variant."""
    import pandas as pd

    from recsys.tracking.mlflow_runs import run_exists

    test_users = pd.read_parquet(split["test"], columns=["user_id"])["user_id"]
    example_users = [int(u) for u in test_users.drop_duplicates().head(3)]
    kwargs = dict(results=results, dataset=dataset, data_digest=data_digest, commit=commit,
                  pipeline_params=pipeline_params, leaderboard_path=board["leaderboard"],
                  plots=board["plots"], reports=reports, tracking_uri=tracking_uri,
                  example_users=example_users)
    tracked = track_task(**kwargs)
    if not run_exists(tracked["parent_run_id"], tracking_uri):
        get_run_logger().warning("cached MLflow run %s is not in %s: logging again",
                                 tracked["parent_run_id"], tracking_uri)
        tracked = track_task.with_options(refresh_cache=True)(**kwargs)
    best = next(r for r in results if r["variant"] == board["best"])
    decision = register_task(best, tracked, evaluation_key, data_digest, settings, dict(split),
                             items_path, k, tracking_uri)
    return {"tracked": tracked, "decision": decision}


# -- package -------------------------------------------------------------------------------
@task(cache_key_fn=content_key, persist_result=True, retries=1, retry_delay_seconds=IO_RETRY_DELAY)
def build_bento_task(champion_version: str, tracking_uri: str, params_path: str,
                     bento_source: str) -> str:
    """Build the Bento around registry version ``champion_version`` (``bentos.build.build_bento``).

    The Bento goes to the BentoML store (``$BENTOML_HOME``). ``bento_source`` is the digest
    of the ``bentos/`` package (service, bentofile): it is here so that editing the service
    builds a new Bento instead of reusing the cached one.
    """
    from bentos.build import build_bento

    return build_bento(model_version=champion_version, tracking_uri=tracking_uri,
                       params_path=params_path)


@flow(name="package")
def package(champion_version: str | None, tracking_uri: str, params_path: str = "params.yaml") -> dict[str, Any]:
    """Build the BentoML service around registry version ``champion_version`` (the champion
    the register step left), with the ``serve:`` section of ``params_path``; the Bento tag."""
    logger = get_run_logger()
    if not available("bentos.build"):
        logger.warning("Bento build not available (bentos.build missing): skipped")
        return {"bento": None, "skipped": True}
    if champion_version is None:
        logger.warning("no champion in the registry: nothing to package")
        return {"bento": None, "skipped": True}
    import bentos.build

    inputs = (champion_version, tracking_uri, params_path,
              library_digest(Path(bentos.build.__file__).resolve().parent))
    tag = build_bento_task(*inputs)
    if not bentos.build.bento_exists(tag):  # a cached tag whose Bento was deleted since
        logger.warning("cached Bento %s is no longer in the BentoML store: rebuilding", tag)
        tag = build_bento_task.with_options(refresh_cache=True)(*inputs)
    logger.info("built Bento %s (serve: bentoml serve %s)", tag, tag)
    return {"bento": tag, "skipped": False}


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
