"""``movierec report``: the team dashboard, a static ``reports/index.html``."""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path
from typing import Annotated

import typer

from movierec.commands.common import console, fail, working

# recsys, flows, bentos (and pandas, httpx) are imported inside the commands: at the top they load
# pandas/scipy/sklearn (~4 s instead of ~0.25 s for `movierec --help`) and Prefect before
# flows.runtime.configure() has set its home


def report(
    out: Annotated[Path | None, typer.Option("--out", help="Folder of the site (default: ROOT/reports).")] = None,
    root: Annotated[Path, typer.Option("--root", help="Project folder the runs wrote into.")] = Path("."),
    tracking_uri: Annotated[str | None, typer.Option("--tracking-uri", help="MLflow tracking URI (default: $MLFLOW_TRACKING_URI or sqlite:///ROOT/mlflow.db).")] = None,
    inference_log: Annotated[Path | None, typer.Option("--inference-log", help="The service's inference log (default: ROOT/data/inference/log.jsonl).")] = None,
    model_name: Annotated[str, typer.Option("--model-name", help="Registered model.")] = "movie-recommender",
) -> None:
    """Write the team dashboard: runs, registry, data quality, shilling, drift, serving health."""
    from recsys.reporting.dashboard import DashboardSources
    from recsys.reporting.errors import ReportInputError
    from recsys.reporting.site import build_dashboard

    root = root.resolve()
    if not root.is_dir():
        fail(f"--root {root} is not a folder")
    uri = tracking_uri or os.environ.get("MLFLOW_TRACKING_URI") or f"sqlite:///{root / 'mlflow.db'}"
    sources = DashboardSources(root=root, tracking_uri=uri, model_name=model_name)
    if inference_log is not None:
        sources = replace(sources, inference_log=inference_log.resolve())
    target_dir = (out or root / "reports").resolve()
    if target_dir.exists() and not target_dir.is_dir():
        fail(f"--out {target_dir} exists and is not a folder")
    try:
        with working("building the dashboard"):
            page = build_dashboard(sources, target_dir)
    except ReportInputError as exc:
        fail(f"dashboard not built: {exc}")
    except OSError as exc:
        fail(f"dashboard not built: {exc}")
    console.print(f"dashboard: {page} (open it in a browser: file://{page})", highlight=False,
                  soft_wrap=True)


def register(app: typer.Typer) -> None:
    """Add ``report`` to ``app``."""
    app.command("report")(report)
