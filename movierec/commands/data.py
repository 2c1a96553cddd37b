"""``movierec data fetch|prepare|list``: get MovieLens into the cache and into canonical tables."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from movierec.commands.common import console, fail, user_errors

data_app = typer.Typer(help="Fetch, prepare and list datasets.", no_args_is_help=True)

DatasetOpt = Annotated[str, typer.Option("--dataset", "-d", help="Registry name, e.g. ml-100k.")]


@data_app.command("list")
def list_datasets() -> None:
    """List the datasets in the registry."""
    from recsys.data.registry import DATASETS

    for spec in DATASETS.values():
        typer.echo(f"{spec.name:16} {spec.n_ratings:>12,} ratings  scale {spec.scale.minimum}-"
                   f"{spec.scale.maximum} step {spec.scale.step}  {spec.url}")


@data_app.command("fetch")
def fetch_cmd(
    dataset: DatasetOpt = "ml-100k",
    source: Annotated[
        str | None,
        typer.Option(help="cache | local | grouplens | recbole, or a folder/zip to read from. "
                     "Default: try each in that order (local = $MOVIEREC_DATA_MIRROR)."),
    ] = None,
    cache_dir: Annotated[Path, typer.Option(help="Raw-data cache.")] = Path("data/raw"),
    no_kg: Annotated[bool, typer.Option("--no-kg", help="Skip the ML-100K knowledge graph.")] = False,
    manifest: Annotated[
        Path | None, typer.Option(help="Also write what was fetched (source, sha256) as JSON here.")
    ] = None,
) -> None:
    """Fetch a dataset into the raw cache, verifying every file's sha256."""
    from rich.progress import BarColumn, DownloadColumn, Progress, TransferSpeedColumn

    from recsys.data.fetch import FetchError, fetch

    with Progress("[progress.description]{task.description}", BarColumn(), DownloadColumn(),
                  TransferSpeedColumn(), console=console, transient=True) as bar:
        tasks: dict[str, object] = {}

        def progress(name: str, done: int, total: int | None) -> None:
            if name not in tasks:
                tasks[name] = bar.add_task(f"downloading {name}", total=total)
            bar.update(tasks[name], completed=done)  # type: ignore[arg-type]

        try:
            result = fetch(dataset, cache_dir=cache_dir, source=source, progress=progress,
                           with_knowledge_graph=not no_kg)
        except FetchError as exc:
            fail(str(exc))
        except ValueError as exc:
            fail(str(exc))
    if manifest is not None:
        import json

        manifest.parent.mkdir(parents=True, exist_ok=True)
        manifest.write_text(json.dumps({
            "dataset": dataset, "source": result.source, "path": str(result.path),
            "files": result.files,
            "knowledge_graph": str(result.knowledge_graph) if result.knowledge_graph else None,
        }, indent=2) + "\n")
    kg = f", knowledge graph in {result.knowledge_graph}" if result.knowledge_graph else ""
    console.print(f"[green]fetched[/] {dataset} from {result.source}: "
                  f"{len(result.files)} verified file(s) in {result.path}{kg}")


@data_app.command("prepare")
def prepare_cmd(
    dataset: DatasetOpt = "ml-100k",
    raw_dir: Annotated[Path, typer.Option(help="Raw-data cache.")] = Path("data/raw"),
    out_dir: Annotated[Path, typer.Option(help="Processed tables root.")] = Path("data/processed"),
) -> None:
    """Write canonical ratings/items/users Parquet tables under OUT_DIR/<dataset>/."""
    from recsys.data.prepare import prepare

    with user_errors():
        tables = prepare(dataset, raw_dir=raw_dir, out_dir=out_dir)
    console.print(
        f"[green]prepared[/] {dataset}: {len(tables.ratings):,} ratings, {len(tables.items):,} "
        f"items, {len(tables.users):,} users -> {tables.folder}"
    )


def register(app: typer.Typer) -> None:
    app.add_typer(data_app, name="data")
