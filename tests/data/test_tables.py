"""One table-file reader for every user-supplied table: ratings, items, pairs and the
validation and monitoring batches fail the same way on the same bad file."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from recsys.data.interactions import read_items, read_pairs, read_ratings
from recsys.data.tables import UnreadableTableError, read_table_file
from recsys.validation.validate import read_table

pytestmark = pytest.mark.unit

READERS: dict[str, Callable[[Path], Any]] = {
    "read_table_file": read_table_file,
    "read_ratings": read_ratings,
    "read_items": read_items,
    "read_pairs": read_pairs,
    "validation read_table": read_table,
}
BAD_FILES: dict[str, tuple[bytes, str]] = {
    "empty": (b"  \n", "is empty"),
    "binary": (b"\x00\x01\x02 not text", "a binary file, not a CSV or Parquet"),
    "json": (b'[{"user_id": 1}]', "looks like JSON, not a CSV or Parquet"),
    "latin-1": ("user_id,item_id\n1,caf\xe9\n".encode("latin-1"), "not UTF-8 text, so not a CSV"),
    "ragged csv": (b'user_id,item_id\n1,"2\n', "not a readable CSV"),
    "corrupt parquet": (b"PAR1 garbage", "not a readable Parquet"),
}


@pytest.mark.parametrize("reader", READERS)
@pytest.mark.parametrize("kind", BAD_FILES)
def test_every_reader_rejects_a_bad_file_with_the_same_reason(
    tmp_path: Path, reader: str, kind: str
) -> None:
    content, reason = BAD_FILES[kind]
    path = tmp_path / "table.csv"
    path.write_bytes(content)
    with pytest.raises(UnreadableTableError, match=reason) as info:
        READERS[reader](path)
    assert str(info.value).startswith(str(path))


@pytest.mark.parametrize("reader", READERS)
def test_every_reader_names_a_missing_file_or_a_folder(tmp_path: Path, reader: str) -> None:
    with pytest.raises(FileNotFoundError, match=f"{tmp_path / 'nope.csv'}: no such file"):
        READERS[reader](tmp_path / "nope.csv")
    with pytest.raises(ValueError, match="is a folder, expected a file"):
        READERS[reader](tmp_path)


@pytest.mark.parametrize("reader", READERS)
def test_every_reader_takes_csv_and_parquet_even_under_the_wrong_suffix(
    tmp_path: Path, reader: str
) -> None:
    frame = pd.DataFrame({"user_id": [1, 2], "item_id": [10, 11], "rating": [4.0, 3.0],
                          "timestamp": [100, 200], "title": ["A", "B"]})
    frame.to_csv(tmp_path / "t.csv", index=False)
    frame.to_parquet(tmp_path / "disguised.csv", index=False)  # Parquet by its magic bytes
    for name in ("t.csv", "disguised.csv"):
        read = READERS[reader](tmp_path / name)
        assert read["item_id"].tolist() == [10, 11]


def test_compact_ratings_narrows_what_fits() -> None:
    """Files between steps hold int32 ids and float32 ratings; ids beyond int32 (the
    contract allows up to 2**53) stay int64, and the values never change."""
    from recsys.data.tables import compact_ratings

    frame = pd.DataFrame({"user_id": [1, 2], "item_id": [5, 2**31 - 1], "rating": [3.5, 4.0],
                          "timestamp": [10, 20]})
    out = compact_ratings(frame)
    assert dict(out.dtypes.astype(str)) == {"user_id": "int32", "item_id": "int32",
                                            "rating": "float32", "timestamp": "int64"}
    assert out.astype({"user_id": "int64", "item_id": "int64", "rating": "float64"}).equals(frame)
    wide = compact_ratings(frame.assign(item_id=[5, 2**31]))
    assert wide["item_id"].dtype == "int64" and wide["user_id"].dtype == "int32"
    assert frame["user_id"].dtype == "int64"  # the input is left alone


def test_split_and_filter_files_are_compact(tmp_path: Path) -> None:
    """The split and the filtered ratings the later steps read are written compact."""
    from flows.stages.filter import filter_task
    from flows.stages.train import split_task
    from recsys.shilling.filter import FilterConfig

    rng = np.random.default_rng(0)
    ratings = pd.DataFrame({"user_id": np.repeat(np.arange(40), 10),
                            "item_id": rng.integers(0, 200, 400),
                            "rating": rng.integers(1, 6, 400).astype(float),
                            "timestamp": np.arange(400)}).drop_duplicates(["user_id", "item_id"])
    path = tmp_path / "ratings.parquet"
    ratings.to_parquet(path)
    split = split_task.fn(str(path), str(tmp_path / "split"), "ms-stratified", 0, 0.25)
    filtered = filter_task.fn(str(path), str(tmp_path / "out"), str(tmp_path / "reports"),
                              FilterConfig(max_removed_share=1.0))
    for file in (split.train, split.test, filtered.ratings):
        dtypes = pd.read_parquet(file).dtypes.astype(str)
        assert (dtypes["user_id"], dtypes["item_id"], dtypes["rating"]) == (
            "int32", "int32", "float32"), file
