"""``movierec data fetch|prepare|list``: get MovieLens into the cache and into canonical tables."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, DownloadColumn, Progress, TransferSpeedColumn

from movierec.commands.common import console, fail, user_errors, working

# recsys, flows, bentos (and pandas, httpx) are imported inside the commands: at the top they load
# pandas/scipy/sklearn (~4 s instead of ~0.25 s for `movierec --help`) and Prefect before
# flows.runtime.configure() has set its home

data_app = typer.Typer(help="Fetch, prepare, list, add and synthesise datasets.",
                       no_args_is_help=True)

DatasetOpt = Annotated[str, typer.Option("--dataset", "-d", help="Registry name, e.g. ml-100k.")]


@data_app.command("list")
def list_datasets() -> None:
    """List the datasets in the registry (fixed releases, then those added with `data add`)."""
    from recsys.data.registry import DatasetsFileError, all_datasets

    with user_errors(DatasetsFileError):
        specs = all_datasets()
    for spec in specs.values():
        typer.echo(f"{spec.name:16} {spec.n_ratings:>12,} ratings  scale {spec.scale.minimum}-"
                   f"{spec.scale.maximum} step {spec.scale.step}  {spec.url or spec.source}")


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


@data_app.command("synth")
def synth_cmd(
    out: Annotated[Path, typer.Option("--out", help="Folder to write (created if needed).")],
    ratings: Annotated[int, typer.Option("--ratings", min=1, help="Number of ratings.")] = 25_000_095,
    users: Annotated[int | None, typer.Option("--users", min=1, help="Number of users (default: ML-25M's ratings per user).")] = None,
    items: Annotated[int | None, typer.Option("--items", min=1, help="Number of movies (default: grows as ratings^0.6 up to ML-25M's 62,423).")] = None,
    seed: Annotated[int, typer.Option("--seed", help="Random seed.")] = 0,
) -> None:
    """Write a synthetic MovieLens-like set in ML-25M's file format (defaults: ML-25M's shape)."""
    from recsys.data.synth import SynthConfig, SynthConfigError, write_synthetic

    with user_errors(SynthConfigError), working(f"generating {ratings:,} synthetic ratings"):
        result = write_synthetic(out, SynthConfig(n_ratings=ratings, n_users=users,
                                                  n_items=items, seed=seed))
    console.print(f"[green]wrote[/] {result.n_ratings:,} ratings of {result.n_users:,} users and "
                  f"{result.n_items:,} movies (mean {result.rating_mean:.3f}), "
                  f"{result.n_tags:,} tags -> {result.folder}")


@data_app.command("add")
def add_cmd(
    name: Annotated[str, typer.Argument(help="Name to register, e.g. synth-1m.")],
    source: Annotated[Path, typer.Option("--source", help="Folder in ML-25M's (ratings.csv, movies.csv ...) or ML-100K's (u.data, u.item, u.user) file format.")],
    cache_dir: Annotated[Path, typer.Option(help="Raw-data cache.")] = Path("data/raw"),
    suites_dir: Annotated[Path, typer.Option("--suites-dir", help="Folder of the expectation suites.")] = Path("expectations"),
    params: Annotated[Path, typer.Option(help="Parameter file (validate: section).")] = Path("params.yaml"),
) -> None:
    """Register a dataset folder: record it in datasets.yaml, cache its files, derive its suites."""
    from recsys.data.added import AddDatasetError, add_dataset
    from recsys.data.fetch import FetchError
    from recsys.data.registry import DatasetsFileError
    from recsys.validation.suites import ValidateConfig

    with user_errors(AddDatasetError, FetchError, DatasetsFileError), \
            working(f"adding {name} from {source}"):
        added = add_dataset(name, source, cache_dir=cache_dir, suites_dir=suites_dir,
                            config=ValidateConfig.from_params(params))
    spec = added.spec
    console.print(
        f"[green]added[/] {name}: {spec.n_ratings:,} ratings (mean {spec.rating_mean:g}, "
        f"{spec.scale.minimum:g}-{spec.scale.maximum:g} step {spec.scale.step:g}), "
        f"{spec.layout} layout; entry in {added.datasets_file}, files in {added.raw}, "
        f"suites {', '.join(str(p) for p in added.suites)}", highlight=False, soft_wrap=True)
    console.print(f"next: movierec data prepare --dataset {name}; movierec run --dataset {name}",
                  highlight=False)


def register(app: typer.Typer) -> None:
    app.add_typer(data_app, name="data")
