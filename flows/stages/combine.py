"""Combine: the validated ratings plus a batch of new ones (a drift retrain's training data)."""

from __future__ import annotations

from pathlib import Path

from prefect import task

from flows.caching import content_key
from recsys.data.prepare import merge_new_ratings
from recsys.data.tables import read_table_file


@task(cache_key_fn=content_key, persist_result=True, retries=2, retry_delay_seconds=1)
def combine_task(ratings_path: str, extra_path: str, out_dir: str) -> str:
    """The validated ratings plus a new batch (``recsys.data.prepare.merge_new_ratings``)."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    target = out / "ratings.parquet"
    merged = merge_new_ratings(read_table_file(ratings_path, "ratings"),
                               read_table_file(extra_path, "new ratings"))
    merged.to_parquet(target, index=False)
    return str(target.resolve())
