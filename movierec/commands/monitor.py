"""``movierec monitor`` and ``movierec simulate``: drift checks that can trigger retraining."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from movierec.commands.common import (
    console,
    error_message,
    fail,
    print_json_line,
    user_errors,
    working,
)


def _monitor_config(params_path: Path, **overrides: Any) -> Any:
    """``MonitorConfig`` from the parameter file, as the pipeline reads it (clean errors)."""
    from recsys.monitoring.drift import MonitorConfig

    with user_errors():
        return MonitorConfig.from_params(params_path, **overrides)


def _validate_batch(current: Path, items: Path | None, dataset: str) -> None:
    """The same Great Expectations gate as the pipeline, in batch mode (no volume bounds)."""
    from recsys.validation.validate import validate_tables

    result = validate_tables(current, items, dataset=dataset, batch=True,
                             docs_dir=Path("reports/data-quality/batches"))
    if not result.success:
        print_json_line({"drift_detected": None, "retrain": False, "drift_share": None,
                         "drifted_columns": [], "report": None,
                         "reason": "batch rejected by validation"})
        fail(f"{current} was rejected by validation; nothing was compared or retrained:\n"
             f"{result.summary}")


def monitor(
    current: Annotated[Path, typer.Option(help="New ratings batch (CSV or Parquet).")],
    reference: Annotated[Path | None, typer.Option(
        help="Training snapshot (default: the processed ratings of the dataset plus the "
             "batches earlier retrains added, data/incoming/<dataset>/).")] = None,
    dataset: Annotated[str, typer.Option(help="Registry name.")] = "ml-100k",
    items: Annotated[Path | None, typer.Option(help="Items table (default: processed).")] = None,
    inference_log: Annotated[Path | None, typer.Option(
        help="Service inference log to check for prediction drift.")] = None,
    decide_only: Annotated[bool, typer.Option(
        "--decide-only", help="Decide and report, but do not retrain.")] = False,
    params: Annotated[Path, typer.Option(help="Parameter file.")] = Path("params.yaml"),
    processed_dir: Annotated[Path, typer.Option(help="Processed tables root.")] = Path("data/processed"),
    report_dir: Annotated[Path, typer.Option(help="Where reports go.")] = Path("reports/drift"),
    state: Annotated[Path, typer.Option(help="Cooldown state file.")] = Path(".movierec/monitor/state.json"),
    skip_validation: Annotated[bool, typer.Option(help="Do not run the GX gate first.")] = False,
) -> None:
    """Compare a new ratings batch (and served traffic) with the training data; retrain on drift.

    Prints the decision as one JSON line (drift_detected, retrain, drift_share,
    drifted_columns, report, ...).
    """
    from recsys.data.interactions import read_ratings
    from recsys.data.tables import read_table_file
    from recsys.monitoring.drift import decide, read_inference_log, record_retrain
    from recsys.monitoring.incoming import incoming_path, training_snapshot

    default_reference = reference is None
    reference = reference or processed_dir / dataset / "ratings.parquet"
    items = items or processed_dir / dataset / "items.parquet"
    for path in (current, reference):
        if not path.is_file():
            fail(f"{path}: no such file")
    if not skip_validation:
        _validate_batch(current, items if items.is_file() else None, dataset)
    with user_errors():
        ref = read_ratings(reference)
        if default_reference:  # plus what the earlier retrains learnt from
            ref = training_snapshot(ref, incoming_path(dataset))
        cur = read_ratings(current)
        item_table = read_table_file(items, "items table") if items.is_file() else None
    config = _monitor_config(params)
    serving_ref = serving_cur = None
    if inference_log is not None:
        if not inference_log.is_file():
            fail(f"--inference-log {inference_log}: no such file")
        with user_errors():
            serving_cur = read_inference_log(inference_log)
        serving_ref = _serving_reference(ref, serving_cur)
    with working("computing drift reports (Evidently)"):
        decision = decide(ref, cur, items=item_table, serving_reference=serving_ref,
                          serving_current=serving_cur, config=config, report_dir=report_dir,
                          state_path=state)
    payload = decision.as_json()
    if decision.retrain and not decide_only:
        payload["retrain_run"] = _retrain(dataset, cur, params)
        record_retrain(state, run=payload["retrain_run"].get("mlflow_run_id"))
    elif decision.retrain:
        payload["retrain_run"] = None
    print_json_line(payload)
    console.print(f"[bold]{'drift' if decision.drift_detected else 'no drift'}[/]: "
                  f"{decision.reason}; report {decision.report}")


def _serving_reference(reference: Any, served: Any) -> Any:
    """What the current champion recommends to a sample of training users (None: no champion)."""
    from recsys.monitoring.features import comparable_served_lists, serving_reference

    try:
        from recsys.tracking.registry import load_champion

        champion = load_champion()
    except Exception as exc:  # no registry or no champion yet: no prediction-drift check
        console.print(f"[yellow]no champion to build the serving reference ({exc})[/]")
        return None
    lengths = comparable_served_lists(served)["items"].map(len).tolist() if len(served) else []
    return serving_reference(champion.recommender, reference, list_lengths=lengths)


def _retrain(dataset: str, batch: Any, params: Path) -> dict[str, Any]:
    """Rerun the training pipeline on the dataset plus the incoming ratings and the batch.

    The batch joins the incoming ratings only when the pipeline completes; a failed retrain
    leaves them as they were, so the batch is still new data at the next check.
    """
    from flows.launch import configured_pipeline
    from recsys.monitoring.incoming import incoming_path, staged_batch

    pipeline = configured_pipeline()
    with staged_batch(incoming_path(dataset), batch) as extra, working(
            "retraining: running the pipeline on the dataset plus the new ratings"):
        try:
            state: Any = pipeline(dataset=dataset, params_path=str(params),
                                  extra_ratings=str(extra), skip_package=True, return_state=True)
        except Exception as exc:  # the flow could not run at all (e.g. no Prefect server)
            fail(f"retraining pipeline could not run: {error_message(exc)}; the batch was not "
                 "added to the incoming data")
        if not state.is_completed():  # fail() raises: the batch stays out of the incoming data
            fail(f"retraining pipeline {state.name.lower()}: {state.message}; the batch was "
                 "not added to the incoming data")
    summary = state.result()
    return {"mlflow_run_id": summary.get("mlflow_run_id"), "decision": summary.get("decision"),
            "tracking_uri": summary.get("tracking_uri")}


def simulate(
    dataset: Annotated[str, typer.Option(help="Registry name.")] = "ml-100k",
    model: Annotated[str, typer.Option(help="Model to retrain.")] = "item_knn",
    initial_weeks: Annotated[int, typer.Option(help="Weeks of data for the first model.")] = 8,
    cooldown_hours: Annotated[float | None, typer.Option(help="Override the cooldown.")] = None,
    params: Annotated[Path, typer.Option(help="Parameter file.")] = Path("params.yaml"),
    processed_dir: Annotated[Path, typer.Option(help="Processed tables root.")] = Path("data/processed"),
    out: Annotated[Path, typer.Option(help="Markdown result.")] = Path(
        "benchmarks/results/drift-simulation.md"),
) -> None:
    """Replay the dataset in time order: weekly batches, drift checks, retraining on drift."""
    from rich.progress import Progress

    from recsys.data.interactions import load_processed
    from recsys.monitoring.simulation import simulate as run_simulation
    from recsys.monitoring.simulation import write_report

    with user_errors():
        ratings, items, _ = load_processed(dataset, processed_dir)
    config = _monitor_config(params, cooldown_hours=cooldown_hours)
    with Progress(console=console, transient=True, disable=not console.is_terminal) as bar:
        task = bar.add_task("replaying weekly batches", total=None)

        def progress(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)
            if not console.is_terminal and (done % 10 == 0 or done == total):
                console.print(f"replaying weekly batches: {done}/{total}", highlight=False)

        result = run_simulation(
            ratings, items, model=model, initial_weeks=initial_weeks, config=config,
            report_dir=Path("reports/drift-simulation"), progress=progress,
        )
    write_report(result, out, out.with_suffix(".png"))
    means = result.batches[["ndcg_static", "ndcg_on_drift", "ndcg_always"]].mean()
    console.print(
        f"[green]simulated[/] {len(result.batches)} weekly batches: {result.retrains} retrains; "
        f"mean NDCG@10 static {means['ndcg_static']:.4f}, on drift {means['ndcg_on_drift']:.4f}, "
        f"weekly {means['ndcg_always']:.4f} -> {out}"
    )
    typer.echo(json.dumps({"batches": len(result.batches), "retrains": result.retrains,
                           **{k: round(float(v), 4) for k, v in means.items()}}))


def register(app: typer.Typer) -> None:
    app.command("monitor")(monitor)
    app.command("simulate")(simulate)
