"""``validate_tables`` and ``movierec validate`` on real MovieLens, clean and corrupted.

Every corruption is applied to a copy of the real ML-100K ratings in ``tmp_path``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from movierec.cli import app
from recsys.validation.suites import suite_json, suite_path
from recsys.validation.validate import (
    ValidationError,
    ValidationResult,
    read_table,
    validate_tables,
)

pytestmark = pytest.mark.data

Corrupt = Callable[[Callable[[pd.DataFrame], pd.DataFrame]], Path]


def _validate(ratings: object, tmp_path: Path, suites_dir: Path, **kwargs: object
              ) -> ValidationResult:
    return validate_tables(ratings, docs_dir=tmp_path / "docs", suites_dir=suites_dir,
                           **kwargs)  # type: ignore[arg-type]


def _failed(result: ValidationResult, expectation: str, column: str | None = None
            ) -> dict[str, object]:
    """The one failure of ``expectation`` (on ``column``), or a helpful assertion error."""
    found = [f for f in result.failures if f["expectation"] == expectation
             and (column is None or f["column"] == column)]
    assert len(found) == 1, result.summary
    return found[0]


# --- clean data passes -------------------------------------------------------------------

def test_clean_ml100k_passes_and_builds_data_docs(
    ml100k_dir: Path, tmp_path: Path, suites_dir: Path
) -> None:
    result = _validate(ml100k_dir / "ratings.parquet", tmp_path, suites_dir,
                       items=ml100k_dir / "items.parquet", users=ml100k_dir / "users.parquet")
    assert result.success, result.summary
    assert result.failures == []
    assert set(result.per_table) == {"ratings", "items", "users"}
    assert result.n_expectations == sum(result.per_table.values()) > 30
    assert "\n" not in result.summary
    assert f"all {result.n_expectations} expectations passed" in result.summary
    index = tmp_path / "docs" / "index.html"
    assert result.docs_index == tmp_path / "docs" / "index.html"
    html = index.read_text()
    assert "Data Docs created by Great Expectations" in html
    for table in ("ratings", "items", "users"):
        assert f"ml-100k.{table}" in html
        assert list((tmp_path / "docs" / "validations" / "ml-100k" / table).rglob("*.html"))
    result.raise_for_failure()  # does not raise


def test_clean_ml_latest_small_passes(
    ml_latest_small_dir: Path, tmp_path: Path, suites_dir: Path
) -> None:
    folder = ml_latest_small_dir
    result = _validate(folder / "ratings.parquet", tmp_path, suites_dir,
                       items=folder / "items.parquet", users=folder / "users.parquet",
                       dataset="ml-latest-small")
    assert result.success, result.summary


def test_clean_csv_and_dataframe_pass(
    ml100k: tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame], ratings_copy: Corrupt,
    tmp_path: Path, suites_dir: Path,
) -> None:
    csv = ratings_copy(lambda r: r.assign(rating=r["rating"].astype("int64")))
    assert _validate(csv, tmp_path, suites_dir).success
    assert _validate(ml100k[0], tmp_path, suites_dir, items=ml100k[1]).success


def test_ml_latest_small_is_not_ml100k(ml_latest_small_dir: Path, tmp_path: Path,
                                       suites_dir: Path) -> None:
    """Half stars and 1996-2018 timestamps break ML-100K's contract."""
    result = _validate(ml_latest_small_dir / "ratings.parquet", tmp_path, suites_dir)
    assert not result.success
    half_stars = _failed(result, "expect_column_values_to_be_in_set", "rating")
    assert {ex["rating"] for ex in half_stars["examples"]} <= {0.5, 1.5, 2.5, 3.5, 4.5}  # type: ignore[union-attr,index]
    _failed(result, "expect_column_values_to_be_between", "timestamp")


# --- unreadable files ----------------------------------------------------------------------

def test_binary_garbage_is_reported_not_raised(tmp_path: Path, suites_dir: Path) -> None:
    garbage = tmp_path / "ratings.csv"
    garbage.write_bytes(np.random.default_rng(0).bytes(4096))
    result = _validate(garbage, tmp_path, suites_dir)
    assert not result.success
    assert "binary" in _failed(result, "readable_table")["error"]  # type: ignore[operator]
    assert "binary" in result.summary


def test_json_file_is_reported(ml100k: tuple[pd.DataFrame, ...], tmp_path: Path,
                               suites_dir: Path) -> None:
    path = tmp_path / "ratings.csv"
    ml100k[0].head(50).to_json(path, orient="records")
    result = _validate(path, tmp_path, suites_dir)
    assert "JSON" in _failed(result, "readable_table")["error"]  # type: ignore[operator]


def test_empty_file_is_reported(tmp_path: Path, suites_dir: Path) -> None:
    path = tmp_path / "ratings.csv"
    path.write_text("")
    result = _validate(path, tmp_path, suites_dir)
    assert "empty" in _failed(result, "readable_table")["error"]  # type: ignore[operator]
    assert result.docs_index is None


def test_header_only_file_fails_the_row_count(ratings_copy: Corrupt, tmp_path: Path,
                                              suites_dir: Path) -> None:
    result = _validate(ratings_copy(lambda r: r.head(0)), tmp_path, suites_dir)
    assert _failed(result, "expect_table_row_count_to_be_between")["observed"] == 0


def test_missing_file_raises(tmp_path: Path, suites_dir: Path) -> None:
    with pytest.raises(FileNotFoundError, match="no such file"):
        _validate(tmp_path / "nope.csv", tmp_path, suites_dir)


# --- corrupted contents --------------------------------------------------------------------

def test_missing_column(ratings_copy: Corrupt, tmp_path: Path, suites_dir: Path) -> None:
    result = _validate(ratings_copy(lambda r: r.drop(columns=["rating"])), tmp_path, suites_dir)
    failure = _failed(result, "expect_column_to_exist", "rating")
    assert "user_id, item_id, timestamp" in str(failure["observed"])
    assert "not evaluated because column(s) rating are missing" in result.summary
    assert "column `rating` is present" in result.summary


def test_non_numeric_rating(ratings_copy: Corrupt, ml100k: tuple[pd.DataFrame, ...],
                            tmp_path: Path, suites_dir: Path) -> None:
    row = ml100k[0].iloc[7]

    def corrupt(r: pd.DataFrame) -> pd.DataFrame:
        r["rating"] = r["rating"].astype(object)
        r.loc[7, "rating"] = "four"
        return r

    result = _validate(ratings_copy(corrupt), tmp_path, suites_dir)
    failure = _failed(result, "expect_column_values_to_be_in_type_list", "rating")
    assert failure["examples"] == [
        {"row": 7, "user_id": row["user_id"], "item_id": row["item_id"], "rating": "four"}]
    assert "rating='four'" in result.summary
    # the one bad cell is counted, not every row of the column it turned into text
    assert failure["unexpected_count"] == 1
    on_scale = _failed(result, "expect_column_values_to_be_in_set", "rating")
    assert on_scale["unexpected_count"] == 1
    assert on_scale["examples"][0]["rating"] == "four"


def test_out_of_range_rating(ratings_copy: Corrupt, ml100k: tuple[pd.DataFrame, ...],
                             tmp_path: Path, suites_dir: Path) -> None:
    row, row_12 = ml100k[0].iloc[11], ml100k[0].iloc[12]

    def corrupt(r: pd.DataFrame) -> pd.DataFrame:
        r.loc[11, "rating"] = 6.0
        r.loc[12, "rating"] = 3.5  # a half star is off the integer scale of ML-100K
        return r

    result = _validate(ratings_copy(corrupt), tmp_path, suites_dir)
    failure = _failed(result, "expect_column_values_to_be_in_set", "rating")
    assert failure["unexpected_count"] == 2
    assert failure["examples"] == [
        {"row": 11, "user_id": row["user_id"], "item_id": row["item_id"], "rating": 6.0},
        {"row": 12, "user_id": row_12["user_id"], "item_id": row_12["item_id"], "rating": 3.5},
    ]
    assert "rating=6.0" in result.summary


def test_shifted_ratings_fail_the_mean(ratings_copy: Corrupt, tmp_path: Path,
                                       suites_dir: Path) -> None:
    """Every 4 turned into a 5: all values still on the scale, but the mean moves."""
    result = _validate(ratings_copy(lambda r: r.assign(rating=r["rating"].replace(4.0, 5.0))),
                       tmp_path, suites_dir)
    assert [f["expectation"] for f in result.failures] == ["expect_column_mean_to_be_between"]


def test_duplicate_rows(ratings_copy: Corrupt, tmp_path: Path, suites_dir: Path) -> None:
    result = _validate(ratings_copy(lambda r: pd.concat([r, r.iloc[[3, 4, 5]]])),
                       tmp_path, suites_dir)
    failure = _failed(result, "expect_compound_columns_to_be_unique")
    assert failure["unexpected_count"] == 6
    assert "each (`user_id`, `item_id`) pair is rated at most once" in result.summary


def test_unknown_item_id(ratings_copy: Corrupt, ml100k_dir: Path, ml100k: tuple[pd.DataFrame, ...],
                         tmp_path: Path, suites_dir: Path) -> None:
    user = ml100k[0].iloc[20]["user_id"]

    def corrupt(r: pd.DataFrame) -> pd.DataFrame:
        r.loc[20, "item_id"] = 99_999
        return r

    result = _validate(ratings_copy(corrupt), tmp_path, suites_dir,
                       items=ml100k_dir / "items.parquet")
    failure = _failed(result, "expect_column_values_to_be_in_set", "item_id_in_items")
    assert failure["examples"] == [
        {"row": 20, "user_id": user, "item_id": 99_999, "item_id_in_items": False}]
    assert "every rating's `item_id` exists in the items table" in result.summary
    assert "item_id=99999" in result.summary


def test_truncated_file(ratings_copy: Corrupt, tmp_path: Path, suites_dir: Path) -> None:
    result = _validate(ratings_copy(lambda r: r.head(60_000)), tmp_path, suites_dir)
    failure = _failed(result, "expect_table_row_count_to_be_between")
    assert failure["observed"] == 60_000
    assert "observed 60000" in result.summary and "truncated" in result.summary


def test_timestamp_outside_period_and_null_key(ratings_copy: Corrupt, tmp_path: Path,
                                               suites_dir: Path) -> None:
    def corrupt(r: pd.DataFrame) -> pd.DataFrame:
        r.loc[30, "timestamp"] = 1_600_000_000  # 2020, after ML-100K was collected
        r["user_id"] = r["user_id"].astype("Float64")
        r.loc[31, "user_id"] = None
        return r

    result = _validate(ratings_copy(corrupt), tmp_path, suites_dir)
    period = _failed(result, "expect_column_values_to_be_between", "timestamp")
    assert period["unexpected_count"] == 1
    assert _failed(result, "expect_column_values_to_not_be_null", "user_id")[
        "unexpected_count"] == 1


def test_failure_raises_validation_error_with_result(ratings_copy: Corrupt, tmp_path: Path,
                                                     suites_dir: Path) -> None:
    result = _validate(ratings_copy(lambda r: r.head(1_000)), tmp_path, suites_dir)
    with pytest.raises(ValidationError) as caught:
        result.raise_for_failure()
    assert caught.value.result is result
    assert str(caught.value) == result.summary


def test_read_table_detects_parquet_by_magic(ml100k_dir: Path, tmp_path: Path) -> None:
    disguised = tmp_path / "ratings.csv"
    disguised.write_bytes((ml100k_dir / "ratings.parquet").read_bytes())
    assert len(read_table(disguised)) == 100_000


# --- command line --------------------------------------------------------------------------

def _run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, ["validate", *args])
    return result.exit_code, result.output


def test_cli_passes_clean_data_in_one_line(ml100k_dir: Path, tmp_path: Path,
                                           suites_dir: Path) -> None:
    code, output = _run("--ratings", str(ml100k_dir / "ratings.parquet"),
                        "--items", str(ml100k_dir / "items.parquet"),
                        "--docs-dir", str(tmp_path / "docs"), "--suites-dir", str(suites_dir))
    assert code == 0, output
    assert len(output.strip().splitlines()) == 1
    assert "expectations passed" in output and "index.html" in output


def test_cli_fails_with_a_readable_summary(ratings_copy: Corrupt, tmp_path: Path,
                                           suites_dir: Path) -> None:
    def corrupt(r: pd.DataFrame) -> pd.DataFrame:
        r.loc[0, "rating"] = 9.0
        return r

    code, output = _run("--ratings", str(ratings_copy(corrupt)), "--docs-dir",
                        str(tmp_path / "docs"), "--suites-dir", str(suites_dir))
    assert code == 1
    assert "validation FAILED" in output and "rating=9.0" in output
    assert "Traceback" not in output


@pytest.mark.parametrize("content", [b"\x89PNG\r\n\x1a\n\x00\x00garbage", b"", b'{"a": 1}'])
def test_cli_bad_files_exit_cleanly(content: bytes, tmp_path: Path, suites_dir: Path) -> None:
    path = tmp_path / "ratings.csv"
    path.write_bytes(content)
    code, output = _run("--ratings", str(path), "--docs-dir", str(tmp_path / "docs"),
                        "--suites-dir", str(suites_dir))
    assert code == 1
    assert "readable_table" in output and "Traceback" not in output


def test_cli_usage_errors(tmp_path: Path) -> None:
    code, output = _run("--ratings", str(tmp_path / "missing.csv"))
    assert code == 1 and "no such file" in output
    code, output = _run()
    assert code == 1 and "--ratings" in output
    code, output = _run("--ratings", str(tmp_path / "missing.csv"), "--dataset", "ml-5k")
    assert code == 1 and "unknown dataset" in output


def test_cli_write_suites(tmp_path: Path, suites_dir: Path) -> None:
    code, output = _run("--write-suites", "--suites-dir", str(tmp_path))
    assert code == 0, output
    committed = suite_path("ml-100k", "ratings", suites_dir).read_text()
    assert suite_path("ml-100k", "ratings", tmp_path).read_text() == committed
    assert committed == suite_json(json.loads(committed))


def test_rating_column_all_text_is_a_failure_not_a_crash(tmp_path: Path,
                                                         suites_dir: Path) -> None:
    """A batch whose `rating` column is all text: GX reports the type failure without an
    element count; the summary used to format that ``None`` and raise a TypeError."""
    batch = tmp_path / "text.csv"
    pd.DataFrame({"user_id": [1, 2], "item_id": [10, 20], "rating": ["good", "bad"],
                  "timestamp": [880_000_000, 880_000_100]}).to_csv(batch, index=False)
    result = validate_tables(batch, dataset="ml-100k", docs_dir=tmp_path / "docs",
                             suites_dir=suites_dir, batch=True)
    assert not result.success
    failure = _failed(result, "expect_column_values_to_be_in_type_list", "rating")
    assert failure["unexpected_count"] == 2 and failure["element_count"] == 2
    assert "2 of 2 rows fail" in result.summary
    assert "rating='good'" in result.summary
