"""Ingest: fetch the raw files, prepare the canonical tables."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from prefect import flow, get_run_logger, task
from prefect.cache_policies import NO_CACHE

from flows.caching import Outputs, cached_call, content_key
from flows.stages import IO_RETRIES, IO_RETRY_DELAY
from recsys.data.fetch import fetch
from recsys.data.prepare import prepare


@dataclass(frozen=True)
class Tables:
    """The prepared tables of a dataset (Parquet paths) and their digests when written."""

    ratings: str
    items: str
    users: str
    outputs: Outputs = Outputs()


@task(retries=IO_RETRIES, retry_delay_seconds=IO_RETRY_DELAY, cache_policy=NO_CACHE)
def fetch_task(dataset: str, raw_dir: str, source: str | None) -> str:
    """Fetch the raw files (verified by sha256; a valid local cache is reused)."""
    result = fetch(dataset, cache_dir=Path(raw_dir), source=source)
    get_run_logger().info("fetched %s from %s into %s", dataset, result.source, result.path)
    return str(Path(raw_dir))


@task(retries=IO_RETRIES, retry_delay_seconds=IO_RETRY_DELAY, persist_result=True,
      cache_key_fn=content_key)
def prepare_task(dataset: str, raw_dir: str, processed_dir: str) -> Tables:
    """Write the canonical ratings/items/users tables."""
    tables = prepare(dataset, raw_dir=Path(raw_dir), out_dir=Path(processed_dir))
    paths = {name: str(tables.folder / f"{name}.parquet") for name in ("ratings", "items", "users")}
    return Tables(**paths, outputs=Outputs.of(paths.values()))


@flow(name="ingest")
def ingest(dataset: str, raw_dir: str, processed_dir: str, source: str | None = None) -> Tables:
    """Fetch and prepare ``dataset``; the paths of its tables."""
    raw = fetch_task(dataset, raw_dir, source)
    tables: Tables = cached_call(prepare_task, lambda t: t.outputs, dataset=dataset, raw_dir=raw,
                                 processed_dir=processed_dir)
    return tables
