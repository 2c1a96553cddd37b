"""Reading table files: the one place that turns a CSV or Parquet path into a data frame.

Every reader of user-supplied tables (ratings, items, pairs, validation batches) goes
through :func:`read_table_file`, so a binary, JSON, empty or malformed file gets the same
clear error everywhere. Checking the columns and values is the caller's job.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

#: Suffixes read as Parquet even without Parquet's magic bytes at the start.
PARQUET_SUFFIXES = {".parquet", ".pq"}


class UnreadableTableError(ValueError):
    """A file that is not a CSV or Parquet table (binary, JSON, empty, malformed)."""


def require_file(path: Path) -> None:
    """Raise ``FileNotFoundError`` (or ``ValueError`` for a folder) naming ``path``."""
    if path.is_dir():
        raise ValueError(f"{path}: is a folder, expected a file")
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file")


def read_table_file(path: str | Path, what: str = "file") -> pd.DataFrame:
    """Read a CSV or Parquet file (Parquet by its magic bytes or its suffix).

    Args:
        path: the file.
        what: how error messages call the table (``"ratings table"``).

    Raises:
        FileNotFoundError: the path does not exist.
        UnreadableTableError: a folder, or a file that is not a CSV or Parquet table, with
            the reason.
    """
    path = Path(path)
    try:
        require_file(path)
    except ValueError as exc:
        raise UnreadableTableError(str(exc)) from None
    with path.open("rb") as handle:
        head = handle.read(8192)
    if not head.strip():
        raise UnreadableTableError(f"{path} is empty")
    if head.startswith(b"PAR1") or path.suffix.lower() in PARQUET_SUFFIXES:
        try:
            return pd.read_parquet(path)
        except Exception as exc:  # pyarrow raises several unrelated types for a bad file
            raise UnreadableTableError(f"{path}: not a readable Parquet {what} ({exc})") from None
    if b"\x00" in head:
        raise UnreadableTableError(f"{path}: a binary file, not a CSV or Parquet {what}")
    if head.lstrip()[:1] in (b"{", b"["):
        raise UnreadableTableError(f"{path}: looks like JSON, not a CSV or Parquet {what}")
    try:
        return pd.read_csv(path)
    except UnicodeDecodeError as exc:
        raise UnreadableTableError(f"{path}: not UTF-8 text, so not a CSV {what} ({exc})") from None
    except (pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise UnreadableTableError(f"{path}: not a readable CSV {what} ({exc})") from None


def write_table_file(frame: pd.DataFrame, path: str | Path) -> Path:
    """Write ``frame`` as Parquet (a ``.parquet``/``.pq`` path) or CSV, creating the folder."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix.lower() in PARQUET_SUFFIXES:
        frame.to_parquet(path, index=False)
    else:
        frame.to_csv(path, index=False)
    return path


#: Ids up to this value are stored as int32 by ``compact_ratings``.
INT32_MAX = int(np.iinfo(np.int32).max)


def compact_ratings(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` with compact dtypes for the files between steps: ``user_id`` and
    ``item_id`` as int32 when every id fits (larger ids, which the data contract allows,
    stay int64), ``rating`` as float32 (half stars and any rating to 7 digits are exact).
    Readers widen them again (``read_ratings``, ``Interactions``)."""
    out = frame.copy()
    for column in ("user_id", "item_id"):
        if column in out and pd.api.types.is_integer_dtype(out[column].dtype) and (
            out.empty or (out[column].min() >= 0 and out[column].max() <= INT32_MAX)
        ):
            out[column] = out[column].astype(np.int32)
    if "rating" in out and pd.api.types.is_float_dtype(out["rating"].dtype):
        out["rating"] = out["rating"].astype(np.float32)
    return out
