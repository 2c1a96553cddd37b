"""``movierec monitor`` and ``movierec simulate``: drift checks that can trigger retraining."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.progress import Progress

from movierec.commands.common import (
    console,
    error_message,
    fail,
    print_json_line,
    user_errors,
    working,
)

# recsys, flows, bentos (and pandas, httpx) are imported inside the commands: at the top they load
# pandas/scipy/sklearn (~4 s instead of ~0.25 s for `movierec --help`) and Prefect before
# flows.runtime.configure() has set its home


def _monitor_config(params_path: Path, **overrides: Any) -> Any:
    """``MonitorConfig`` from the parameter file, as the pipeline reads it (clean errors)."""
    from recsys.monitoring.drift import MonitorConfig

    with user_errors():
        return MonitorConfig.from_params(params_path, **overrides)


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
    drifted_columns, report, ...). The work is the ``monitor`` flow (``flows.monitor``);
    the inputs are checked here first so that a bad one is one readable line.
    """
    from recsys.data.interactions import read_ratings
    from recsys.data.tables import read_table_file
    from recsys.monitoring.served_log import read_inference_log

    default_reference = reference is None
    reference = reference or processed_dir / dataset / "ratings.parquet"
    items = items or processed_dir / dataset / "items.parquet"
    for path in (current, reference):
        if not path.is_file():
            fail(f"{path}: no such file")
    with user_errors():
        read_ratings(reference)
        if items.is_file():
            read_table_file(items, "items table")
    _monitor_config(params)
    if inference_log is not None:
        if not inference_log.is_file():
            fail(f"--inference-log {inference_log}: no such file")
        with user_errors():
            read_inference_log(inference_log)
    from flows.prefect_server import ephemeral_server
    from flows.run_lock import RunLockedError, run_lock
    from flows.runtime import configure

    def note(message: str) -> None:
        console.print(f"[yellow]{message}[/]", highlight=False)

    home = configure()  # before Prefect is imported: it reads its settings then
    from flows.monitor import REJECTED
    from flows.monitor import monitor as monitor_flow

    try:  # a retrain is a pipeline run: the same lock and server clean-up as `movierec run`
        with run_lock(notify=note), ephemeral_server(home, notify=note), \
                working("validating the batch and computing drift (Evidently)"):
            payload = monitor_flow(
                current_path=str(current), dataset=dataset,
                reference_path=None if default_reference else str(reference),
                items_path=str(items) if items.is_file() else None,
                inference_log=str(inference_log) if inference_log else None,
                decide_only=decide_only, skip_validation=skip_validation,
                params_path=str(params), processed_dir=str(processed_dir),
                report_dir=str(report_dir), state_path=str(state))
    except RunLockedError as exc:
        fail(str(exc))
    except KeyboardInterrupt:
        fail("interrupted; the temporary Prefect server was stopped", code=130)
    except Exception as exc:
        fail(f"monitoring failed: {error_message(exc)}")
    if payload.get("retrain_error"):
        fail(payload["retrain_error"])
    if payload.get("rejected"):
        print_json_line(dict(REJECTED))
        fail(f"{current} was rejected by validation; nothing was compared or retrained:\n"
             f"{payload['summary']}")
    print_json_line(payload)
    console.print(f"[bold]{'drift' if payload['drift_detected'] else 'no drift'}[/]: "
                  f"{payload['reason']}; report {payload['report']}")


def _champion_variant(processed_dir: Path, dataset: str) -> str:
    """The registry champion's variant; else the best variant of ``metrics.json``; else
    ``ease`` (the project's strongest ranker)."""
    from recsys.tracking.mlflow_runs import store_exists
    from recsys.tracking.registry import load_champion

    if not store_exists(None):
        console.print("[yellow]no MLflow registry here yet (run the pipeline first)[/]")
    else:
        try:
            variant = load_champion(dataset=dataset).variant
            if variant:
                return str(variant)
        except Exception as exc:  # no champion yet, or an unreachable registry
            console.print(f"[yellow]no champion in the registry ({error_message(exc)})[/]")
    try:
        return str(json.loads(Path("metrics.json").read_text())["best"]["variant"])
    except (OSError, ValueError, KeyError, TypeError):
        return "ease"


def simulate(
    dataset: Annotated[str, typer.Option(help="Registry name.")] = "ml-100k",
    model: Annotated[str | None, typer.Option(
        help="Variant to retrain (default: the champion's variant).")] = None,
    initial_weeks: Annotated[int, typer.Option(
        "--initial-weeks", "--initial-spans", min=1,
        help="Spans (weeks by default) of data for the first model.")] = 8,
    span_days: Annotated[float | None, typer.Option(
        min=0.001,
        help="Length of one batch in days (default: monitor.span_days, widened to a month, "
             "quarter, half year or year(s) when the history would make more than "
             "40 spans).")] = None,
    cooldown_hours: Annotated[float | None, typer.Option(help="Override the cooldown.")] = None,
    seed: Annotated[int, typer.Option(help="Seed of the bootstraps.")] = 0,
    checks: Annotated[bool, typer.Option(
        help="Also run the reference-like and injected-shift checks.")] = False,
    params: Annotated[Path, typer.Option(help="Parameter file.")] = Path("params.yaml"),
    processed_dir: Annotated[Path, typer.Option(help="Processed tables root.")] = Path("data/processed"),
    out: Annotated[Path, typer.Option(help="Markdown result.")] = Path(
        "reports/drift-simulation/drift-simulation.md"),
    json_path: Annotated[Path | None, typer.Option(
        "--json", help="Also write the result as JSON (dataset, model, batches, policies).")] = None,
) -> None:
    """Replay the dataset in time order: batches, drift and quality checks, four policies."""

    from recsys.data.interactions import load_processed
    from recsys.monitoring.replay_span import replay_span_days
    from recsys.monitoring.simulation import fitter, trigger_checks
    from recsys.monitoring.simulation import simulate as run_simulation
    from recsys.monitoring.simulation_report import write_report
    from recsys.params import load

    with user_errors():
        ratings, items, _ = load_processed(dataset, processed_dir)
        variant = model or _champion_variant(processed_dir, dataset)
        variant_params = load(params).train.model_settings(variant)
    config = _monitor_config(params, cooldown_hours=cooldown_hours, span_days=span_days)
    if span_days is None:
        chosen = replay_span_days(ratings, config.span_days)
        if chosen != config.span_days:
            console.print(
                f"{dataset} spans too long a history for {config.span_days:g}-day batches: "
                f"replaying in {chosen:g}-day batches (--span-days sets it)", highlight=False)
            config = config.model_copy(update={"span_days": chosen})
    fit = fitter(variant, variant_params, items)
    with Progress(console=console, transient=True, disable=not console.is_terminal) as bar:
        task = bar.add_task(f"replaying batches ({variant})", total=None)

        def progress(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)
            if not console.is_terminal and (done % 10 == 0 or done == total):
                console.print(f"replaying batches: {done}/{total}", highlight=False)

        with user_errors():
            result = run_simulation(ratings, items, dataset=dataset, model=variant,
                                    params=variant_params, initial_spans=initial_weeks,
                                    config=config, seed=seed, progress=progress, fit=fit)
            checked = (trigger_checks(ratings, items, fit=fit,
                                      initial_spans=initial_weeks, config=config, seed=seed)
                       if checks else None)
    write_report([(result, checked)], out, out.with_suffix(".png"))
    payload = result.as_json()
    if json_path is not None:
        json_path.parent.mkdir(parents=True, exist_ok=True)
        json_path.write_text(json.dumps(payload, indent=2) + "\n")
    pol = payload["policies"]
    console.print(
        f"[green]simulated[/] {payload['batches']} batches of {dataset} with {variant}: "
        + ", ".join(f"{name} {p['mean_ndcg_at_10']:.4f} ({p['retrains']} retrains)"
                    for name, p in pol.items()) + f" -> {out}")
    typer.echo(json.dumps(payload))


def register(app: typer.Typer) -> None:
    app.command("monitor")(monitor)
    app.command("simulate")(simulate)
