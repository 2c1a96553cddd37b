"""``movierec registry list | promote VERSION | rollback``: the registered model, for people."""

from __future__ import annotations

from typing import Annotated

import typer

from movierec.commands.common import console, fail, user_errors

registry_app = typer.Typer(help="List, promote and roll back registered model versions.",
                           no_args_is_help=True)

UriOpt = Annotated[str | None, typer.Option("--tracking-uri", help="MLflow tracking URI (default: $MLFLOW_TRACKING_URI or sqlite:///mlflow.db).")]
NameOpt = Annotated[str | None, typer.Option(
    "--model-name", help="Registered model (default: register.model_name of params.yaml).")]


def _registered_name(model_name: str | None) -> str:
    """``model_name``, or the registered model ``params.yaml`` names."""
    if model_name:
        return model_name
    from recsys.params import load

    with user_errors():
        return load().register_.model_name


@registry_app.command("list")
def list_cmd(tracking_uri: UriOpt = None, model_name: NameOpt = None) -> None:
    """Every version, newest first, with aliases, score and promotion decision (on stdout)."""
    from rich.console import Console
    from rich.table import Table

    from recsys.tracking.registry import list_versions

    model_name = _registered_name(model_name)

    rows = list_versions(model_name, tracking_uri)
    if not rows:
        fail(f"no versions of {model_name!r} yet: run `movierec run` first")
    table = Table(title=model_name)
    for column in ("version", "aliases", "variant", "metric", "score", "decision", "reason"):
        table.add_column(column)
    for row in rows:
        score = "" if row["score"] is None else f"{row['score']:.4f}"
        table.add_row(row["version"], ",".join(row["aliases"]), row["variant"], row["metric"],
                      score, row["decision"], row["reason"])
    # the listing is the output: stdout, so `> file` keeps it (unwrapped when not a terminal)
    out = Console()
    if not out.is_terminal:
        out = Console(width=200)
    out.print(table)


@registry_app.command("promote")
def promote_cmd(version: Annotated[str, typer.Argument(help="Version to make champion.")],
                tracking_uri: UriOpt = None, model_name: NameOpt = None) -> None:
    """Give the ``champion`` alias to VERSION."""
    from recsys.tracking.registry import RegistryError, promote

    model_name = _registered_name(model_name)

    try:
        previous = promote(version, model_name, tracking_uri)
    except RegistryError as exc:
        fail(str(exc))
    console.print(f"[green]champion[/] {model_name} v{version}"
                  + (f" (was v{previous})" if previous else ""), highlight=False)


@registry_app.command("rollback")
def rollback_cmd(tracking_uri: UriOpt = None, model_name: NameOpt = None) -> None:
    """Move ``champion`` back to the previous champion."""
    from recsys.tracking.registry import RegistryError, rollback

    model_name = _registered_name(model_name)

    try:
        before, after = rollback(model_name, tracking_uri)
    except RegistryError as exc:
        fail(str(exc))
    console.print(f"[green]rolled back[/] {model_name} champion v{before} -> v{after}",
                  highlight=False)


def register(app: typer.Typer) -> None:
    """Add ``registry`` to ``app``."""
    app.add_typer(registry_app, name="registry")
