"""One table-file reader for every user-supplied table: ratings, items, pairs and the
validation and monitoring batches fail the same way on the same bad file."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

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
