"""``movierec run`` (the whole Prefect pipeline) and ``movierec server`` (deployments)."""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
import time
from pathlib import Path
from typing import Annotated, Any

import typer

from movierec.commands.common import console, fail, user_errors, working

# recsys, flows, bentos (and pandas, httpx) are imported inside the commands: at the top they load
# pandas/scipy/sklearn (~4 s instead of ~0.25 s for `movierec --help`) and Prefect before
# flows.runtime.configure() has set its home

PREFECT_PORT = 4200


def _summary_lines(summary: dict[str, Any]) -> list[str]:
    from recsys.tracking.mlflow_runs import redact_uri

    reports = summary.get("reports") or {}
    uri = redact_uri(summary["tracking_uri"])
    ui = (f"mlflow ui --backend-store-uri {uri} --host 127.0.0.1 --port 5000"
          if uri.startswith(("sqlite:", "file:")) else uri)
    lines = [
        f"registry:   {summary['decision']['summary']}",
        f"MLflow:     run {summary['mlflow_run_id']} in {uri} (UI: {ui})",
        f"reports:    evaluation {reports.get('evaluation')}; data quality "
        f"{reports.get('data-quality') or 'n/a'}; drift {reports.get('drift') or 'n/a'}; "
        f"metrics {reports.get('metrics')}",
        f"Bento:      {summary['bento'] or 'not built'}"
        + (f" (serve: bentoml serve {summary['bento']} --host 127.0.0.1)" if summary.get("bento") else ""),
    ]
    for variant, reason in {**summary.get("skipped", {}), **summary.get("failed", {})}.items():
        lines.append(f"not trained: {variant}: {reason}")
    return lines


def run(
    dataset: Annotated[str | None, typer.Option("--dataset", "-d", help="Registry name (default: params.yaml data.dataset).")] = None,
    models: Annotated[str | None, typer.Option("--models", "-m", help="Comma-separated variants (default: params.yaml train.models).")] = None,
    runner: Annotated[str, typer.Option(help="Task runner for the variants: local | dask.")] = "local",
    dask_address: Annotated[str | None, typer.Option("--dask-address", help="Scheduler address of an existing Dask cluster (default: start a local one).")] = None,
    params: Annotated[Path, typer.Option("--params", help="Parameter file.")] = Path("params.yaml"),
    tracking_uri: Annotated[str | None, typer.Option("--tracking-uri", help="MLflow tracking URI (default: $MLFLOW_TRACKING_URI or sqlite:///mlflow.db).")] = None,
    skip_package: Annotated[bool, typer.Option("--skip-package", help="Do not build the Bento.")] = False,
    source: Annotated[str | None, typer.Option(help="Raw data source for fetch (cache | local | grouplens | recbole | a path).")] = None,
    extra_ratings: Annotated[Path | None, typer.Option("--extra-ratings", help="New ratings to train on together with the dataset (what a drift-triggered retrain does).")] = None,
    profile: Annotated[str | None, typer.Option("--profile", help="A profile of the parameter file's profiles: section, merged over it (default: $MOVIEREC_PROFILE).")] = None,
    wait: Annotated[bool, typer.Option("--wait", help="If another run holds this folder's lock, wait for it instead of failing.")] = False,
) -> None:
    """Run the whole pipeline (ingest, validate, filter, train, evaluate, register, package, monitor)."""
    if runner not in ("local", "dask"):
        fail(f"--runner must be local or dask, got {runner!r}")
    if dask_address and runner != "dask":
        fail("--dask-address needs --runner dask")
    if not params.is_file():
        fail(f"{params}: no such parameter file")
    if extra_ratings is not None and not extra_ratings.is_file():
        fail(f"--extra-ratings {extra_ratings}: no such file")
    from flows.launch import configured_pipeline
    from flows.prefect_server import ephemeral_server
    from flows.run_lock import RunLockedError, run_lock
    from flows.runtime import configure
    from recsys.models import MODELS
    from recsys.params import PROFILE_ENV, load

    with user_errors():  # the whole file, strictly, before any work
        settings = load(params, profile)
    if profile:  # the steps and the processes they start read the same document
        os.environ[PROFILE_ENV] = profile
    variants = [m.strip() for m in models.split(",") if m.strip()] if models else None
    unknown = [m for m in variants or () if m not in MODELS]
    if unknown:
        fail(f"unknown model(s) {', '.join(unknown)}; choose from: {', '.join(MODELS)}")

    def note(message: str) -> None:
        console.print(f"[yellow]{message}[/]", highlight=False)

    start = time.perf_counter()
    try:
        with run_lock(wait=wait, notify=note):
            home = configure()
            if dask_address:  # in seconds, before Prefect's temporary server starts
                _check_cluster(dask_address, dataset or settings.data.dataset,
                               settings.data.processed_dir)
            with working("running the pipeline (Prefect, ephemeral mode)..."), \
                    ephemeral_server(home, notify=note):
                pipeline = configured_pipeline(home)
                state: Any = pipeline(
                    dataset=dataset, models=variants, params_path=str(params),
                    tracking_uri=tracking_uri, runner=runner, dask_address=dask_address,
                    skip_package=skip_package, source=source,
                    extra_ratings=str(extra_ratings) if extra_ratings else None,
                    profile=profile, return_state=True)
                summary = state.result() if state.is_completed() else None
    except RunLockedError as exc:
        fail(str(exc))
    except KeyboardInterrupt:
        fail(f"interrupted after {time.perf_counter() - start:.0f}s; the temporary Prefect "
             "server was stopped", code=130)
    elapsed = time.perf_counter() - start
    if summary is None:
        fail(f"pipeline {state.name.lower()} after {elapsed:.0f}s: {state.message}")
    typer.echo(summary["leaderboard_markdown"])
    for line in _summary_lines(summary):
        console.print(line, highlight=False, soft_wrap=True)
    console.print(f"[green]pipeline done[/] in {elapsed:.0f}s: best {summary['best']}, "
                  f"champion v{summary['decision'].get('champion_after')}; Prefect state in {home}",
                  highlight=False)


def _check_cluster(address: str, dataset: str, processed_dir: str) -> None:
    from flows.dask_cluster import ClusterError, check_cluster, run_folders

    with working(f"checking the Dask cluster at {address}..."):
        try:
            info = check_cluster(address, run_folders(
                dataset, processed_dir, os.environ.get("PREFECT_RESULTS_LOCAL_STORAGE_PATH")))
        except ClusterError as exc:
            fail(str(exc))
    console.print(f"Dask cluster at {info.address}: {len(info.workers)} worker(s) see the "
                  "shared storage", highlight=False)


def _wait_healthy(url: str, timeout: float) -> bool:
    import httpx

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/health", timeout=2.0).status_code == 200:
                return True
        except httpx.HTTPError:
            pass
        time.sleep(1.0)
    return False


def server(
    start: Annotated[bool, typer.Option("--start", help="Start prefect server and serve the deployments (Ctrl-C stops both).")] = False,
    port: Annotated[int, typer.Option(help="Prefect server port (127.0.0.1).")] = PREFECT_PORT,
    dataset: Annotated[str, typer.Option("--dataset", "-d", help="Dataset the deployments train and monitor.")] = "ml-100k",
    tracking_uri: Annotated[str | None, typer.Option("--tracking-uri", help="MLflow tracking URI (default: the local SQLite store).")] = None,
) -> None:
    """Show (or, with --start, run) a Prefect server serving nightly training and hourly monitoring."""

    from flows.runtime import configure

    home = configure()
    api = f"http://127.0.0.1:{port}/api"
    from recsys.tracking.mlflow_runs import redact_uri

    serve_args = f"--dataset {shlex.quote(dataset)}"
    if tracking_uri:
        # shown, not run: credentials belong in MLFLOW_TRACKING_USERNAME/PASSWORD
        serve_args += f" --tracking-uri {shlex.quote(redact_uri(tracking_uri))}"
    commands = [
        f"PREFECT_HOME={home} prefect server start --host 127.0.0.1 --port {port}",
        f"PREFECT_HOME={home} PREFECT_API_URL={api} python -m flows.serve {serve_args}",
    ]
    if not start:
        typer.echo(f"# 1. the Prefect server (UI at http://127.0.0.1:{port})")
        typer.echo(commands[0])
        typer.echo("# 2. in another shell: serve pipeline/nightly-train (02:00) and "
                   "monitor/hourly-monitor (every hour)")
        typer.echo(commands[1])
        typer.echo("# or run both: movierec server --start")
        return
    env = {**os.environ, "PREFECT_API_URL": api}
    prefect_bin = str(Path(sys.executable).with_name("prefect"))
    proc = subprocess.Popen([prefect_bin, "server", "start", "--host", "127.0.0.1", "--port", str(port)],
                            env={k: v for k, v in env.items() if k != "PREFECT_API_URL"})
    try:
        if not _wait_healthy(api, 240):
            fail(f"prefect server did not answer on {api}")
        console.print(f"[green]Prefect server[/] at http://127.0.0.1:{port}; serving deployments "
                      "(Ctrl-C to stop)")
        os.environ["PREFECT_API_URL"] = api
        from flows.serve import main

        main(dataset, tracking_uri)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def register(app: typer.Typer) -> None:
    """Add ``run`` and ``server`` to ``app``."""
    app.command("run")(run)
    app.command("server")(server)
