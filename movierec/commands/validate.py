"""``movierec validate``: check ratings/items/users tables with Great Expectations."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from movierec.commands.common import console, fail, user_errors, working

# recsys, flows, bentos (and pandas, httpx) are imported inside the commands: at the top they load
# pandas/scipy/sklearn (~4 s instead of ~0.25 s for `movierec --help`) and Prefect before
# flows.runtime.configure() has set its home


def validate_cmd(
    ratings: Annotated[
        Path | None, typer.Option("--ratings", help="Ratings table (CSV or Parquet).")
    ] = None,
    items: Annotated[
        Path | None, typer.Option("--items", help="Items table; rated items must be in it.")
    ] = None,
    users: Annotated[
        Path | None, typer.Option("--users", help="Users table; rating users must be in it.")
    ] = None,
    dataset: Annotated[
        str, typer.Option("--dataset", "-d", help="Registry name whose contract applies.")
    ] = "ml-100k",
    docs_dir: Annotated[
        Path, typer.Option("--docs-dir", help="Where the Data Docs (HTML) are built.")
    ] = Path("reports/data-quality"),
    suites_dir: Annotated[
        Path, typer.Option("--suites-dir", help="Folder of the expectation suites (JSON).")
    ] = Path("expectations"),
    write_suites: Annotated[
        bool,
        typer.Option("--write-suites",
                     help="Regenerate the suite JSON files from the code contract and exit."),
    ] = False,
    params: Annotated[Path, typer.Option(help="Parameter file (validate: section).")] = Path(
        "params.yaml"),
    profile: Annotated[str | None, typer.Option(
        "--profile", help="A profile of the parameter file's profiles: section.")] = None,
) -> None:
    """Validate tables against the dataset's expectation suites; non-zero exit on failure."""
    from recsys.data.registry import UnknownDatasetError
    from recsys.params import load
    from recsys.validation.suites import write_suites as write_suite_files

    with user_errors():  # the whole file, strictly, before any work
        config = load(params, profile).validate_
    if write_suites:
        with working("generating expectation suites"):
            written = write_suite_files(suites_dir, config)
        console.print(f"[green]wrote[/] {len(written)} suites to {suites_dir}/")
        return
    if ratings is None:
        fail("give --ratings PATH (or --write-suites)")

    from recsys.validation.validate import validate_tables

    with user_errors(UnknownDatasetError), working(
        f"validating {dataset} tables with Great Expectations"
    ):
        result = validate_tables(ratings, items, users, dataset=dataset, docs_dir=docs_dir,
                                 suites_dir=suites_dir, config=config)
    if not result.success:
        console.print(result.summary, highlight=False, markup=False, soft_wrap=True)
        raise typer.Exit(1)
    console.print(f"[green]passed[/] {result.summary}", highlight=False, soft_wrap=True)


def register(app: typer.Typer) -> None:
    """Add ``movierec validate`` to ``app``."""
    app.command("validate")(validate_cmd)
