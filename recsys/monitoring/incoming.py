"""New ratings that drift retrains learnt from: ``data/incoming/<dataset>/ratings.parquet``.

The training snapshot that monitoring compares a batch with is the prepared dataset plus
these ratings. A batch joins them only once the retrain that used it has completed
(``staged_batch``): if the retrain fails, the batch is still new data, so the next check
compares it again and a later retrain learns from it.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pandas as pd

from recsys.data.interactions import read_ratings
from recsys.data.prepare import merge_new_ratings
from recsys.serving.recent import whole_histories

INCOMING_DIR = Path("data/incoming")
#: Where the scheduled monitor looks for the newest batch of a dataset.
NEW_BATCH_DIR = Path("data/new")


def incoming_path(dataset: str, root: Path = INCOMING_DIR) -> Path:
    """Where the ratings earlier retrains added to ``dataset`` are kept."""
    return root / dataset / "ratings.parquet"


def training_snapshot(ratings: pd.DataFrame, incoming: Path) -> pd.DataFrame:
    """``ratings`` plus the incoming ratings (newest rating of a pair wins), if there are any."""
    if not incoming.is_file():
        return ratings
    return merge_new_ratings(ratings, read_ratings(incoming))


def pending_path(dataset: str, root: Path = INCOMING_DIR) -> Path:
    """Where the batches checked since the last retrain, and not learnt yet, are kept."""
    return root / dataset / "pending.parquet"


def recent_path(dataset: str, root: Path = INCOMING_DIR) -> Path:
    """Where the whole histories of the users with pending ratings are kept: the service
    scores those users from them (``recsys.serving.recent``)."""
    return root / dataset / "recent.parquet"


def read_pending(path: Path) -> pd.DataFrame | None:
    """The pending ratings (``None`` when there are none)."""
    return read_ratings(path) if path.is_file() else None


def add_pending(path: Path, batch: pd.DataFrame) -> pd.DataFrame:
    """Keep ``batch`` as pending: the next retrain learns from it, and until then it counts
    towards how stale the champion is (``recsys.monitoring.staleness``). All the pending
    ratings now."""
    earlier = read_pending(path)
    merged = batch if earlier is None else merge_new_ratings(earlier, batch)
    _replace(path, merged)
    return merged


def write_recent(path: Path, reference: pd.DataFrame, pending: pd.DataFrame) -> None:
    """Write, for the service, the whole histories of the ``pending`` users: their
    ``reference`` ratings plus the pending ones (``recsys.serving.recent``)."""
    _replace(path, whole_histories(reference, pending))


def clear_pending(dataset: str, root: Path = INCOMING_DIR) -> None:
    """A retrain learnt the pending ratings: drop them and the histories built on them."""
    pending_path(dataset, root).unlink(missing_ok=True)
    recent_path(dataset, root).unlink(missing_ok=True)


def _replace(path: Path, frame: pd.DataFrame) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    staged = path.with_suffix(".tmp.parquet")
    frame.to_parquet(staged, index=False)
    staged.replace(path)


def monitoring_reference(dataset: str, processed_dir: Path = Path("data/processed"),
                         root: Path = INCOMING_DIR) -> pd.DataFrame:
    """The one reference monitoring compares batches with: the data the current champion's
    pipeline trained on (the processed ratings) plus the batches retrains have learnt from."""
    return training_snapshot(read_ratings(processed_dir / dataset / "ratings.parquet"),
                             incoming_path(dataset, root))


def new_batch_path(dataset: str, root: Path = NEW_BATCH_DIR) -> Path:
    """Where new ratings of ``dataset`` land for the scheduled monitor."""
    return root / dataset / "ratings.parquet"


@contextmanager
def staged_batch(incoming: Path, batch: pd.DataFrame) -> Iterator[Path]:
    """The incoming ratings plus ``batch``, in a staging file until the block succeeds.

    Yields the staging file (the extra ratings to train on). When the block ends normally
    the staging file replaces ``incoming`` (an atomic rename); when it raises, the staging
    file is deleted and ``incoming`` is left as it was.

    Args:
        incoming: the incoming ratings file (need not exist yet).
        batch: the new ratings (contract columns).
    """
    incoming.parent.mkdir(parents=True, exist_ok=True)
    earlier = read_ratings(incoming) if incoming.is_file() else batch.iloc[:0]
    merged = merge_new_ratings(earlier, batch)  # on a tie in time the batch wins
    with tempfile.NamedTemporaryFile(dir=incoming.parent, prefix=f".{incoming.stem}-staged-",
                                     suffix=".parquet", delete=False) as handle:
        staged = Path(handle.name)
    try:
        merged.to_parquet(staged, index=False)
        yield staged
        staged.replace(incoming)
    finally:
        staged.unlink(missing_ok=True)
