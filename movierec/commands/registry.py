"""``movierec registry list | promote VERSION | rollback``: the registered model, for people.

Every command acts on one dataset's registered model, ``<model name>-<dataset>``
(``recsys.tracking.registry.registered_name``): ``--dataset`` and ``--model-name`` default
to ``data.dataset`` and ``register.model_name`` of ``params.yaml``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from movierec.commands.common import console, fail, user_errors

# recsys, flows, bentos (and pandas, httpx) are imported inside the commands: at the top they load
# pandas/scipy/sklearn (~4 s instead of ~0.25 s for `movierec --help`) and Prefect before
# flows.runtime.configure() has set its home

registry_app = typer.Typer(help="List, promote and roll back registered model versions.",
                           no_args_is_help=True)

UriOpt = Annotated[str | None, typer.Option("--tracking-uri", help="MLflow tracking URI (default: $MLFLOW_TRACKING_URI or sqlite:///mlflow.db).")]
NameOpt = Annotated[str | None, typer.Option("--model-name", help="Registered model's base name (default: params.yaml register.model_name); the dataset is appended.")]
DatasetOpt = Annotated[str | None, typer.Option("--dataset", "-d", help="Dataset whose registered model to use (default: params.yaml data.dataset).")]
ParamsOpt = Annotated[Path, typer.Option("--params", help="Parameter file for the defaults.")]


def _name(model_name: str | None, dataset: str | None, params: Path) -> str:
    """``<base>-<dataset>`` from the options, else from the (strictly validated) ``params``."""
    from recsys.params import load
    from recsys.tracking.registry import registered_name

    if model_name is None or dataset is None:
        with user_errors():
            parsed = load(params)
        model_name = model_name or parsed.register_.model_name
        dataset = dataset or parsed.data.dataset
    return registered_name(model_name, dataset)


@registry_app.command("list")
def list_cmd(tracking_uri: UriOpt = None, model_name: NameOpt = None, dataset: DatasetOpt = None,
             params: ParamsOpt = Path("params.yaml")) -> None:
    """Every version, newest first, with aliases, score and promotion decision (on stdout)."""

    from recsys.tracking.registry import list_versions

    name = _name(model_name, dataset, params)
    rows = list_versions(name, tracking_uri)
    if not rows:
        fail(f"no versions of {name!r} yet: run `movierec run` first")
    table = Table(title=name)
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
                tracking_uri: UriOpt = None, model_name: NameOpt = None,
                dataset: DatasetOpt = None, params: ParamsOpt = Path("params.yaml"),
                force: Annotated[bool, typer.Option("--force", help="Promote a version that was never decided, lost its comparison or scores worse than the champion.")] = False,
                reason: Annotated[str | None, typer.Option("--reason", help="Why (required with --force; recorded on the version with the user).")] = None) -> None:
    """Give the ``champion`` alias to VERSION (recording who and why)."""
    from recsys.tracking.manual import current_user, promote
    from recsys.tracking.registry import RegistryError

    name = _name(model_name, dataset, params)
    try:
        previous = promote(version, name, tracking_uri, force=force, reason=reason)
    except RegistryError as exc:
        fail(str(exc))
    console.print(f"[green]champion[/] {name} v{version}"
                  + (f" (was v{previous})" if previous else "")
                  + f", promoted by {current_user()}" + (f": {reason}" if reason else ""),
                  highlight=False)


@registry_app.command("rollback")
def rollback_cmd(tracking_uri: UriOpt = None, model_name: NameOpt = None,
                 dataset: DatasetOpt = None, params: ParamsOpt = Path("params.yaml"),
                 reason: Annotated[str | None, typer.Option("--reason", help="Why (recorded on the version rolled back from).")] = None) -> None:
    """Move ``champion`` back to the previous champion."""
    from recsys.tracking.manual import rollback
    from recsys.tracking.registry import RegistryError

    name = _name(model_name, dataset, params)
    try:
        before, after = rollback(name, tracking_uri, reason=reason)
    except RegistryError as exc:
        fail(str(exc))
    console.print(f"[green]rolled back[/] {name} champion v{before} -> v{after}",
                  highlight=False)


def register(app: typer.Typer) -> None:
    """Add ``registry`` to ``app``."""
    app.add_typer(registry_app, name="registry")
