"""The committed suites are exactly what the code contract generates, and mirror it."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest

from recsys.data.registry import DATASETS
from recsys.validation.suites import (
    TABLES,
    ValidateConfig,
    build_suite,
    load_suite,
    suite_json,
    suite_path,
    write_suites,
)

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]


def _by_type(suite: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    return [e for e in suite["expectations"] if e["type"] == kind]


@pytest.mark.parametrize("dataset", sorted(DATASETS))
@pytest.mark.parametrize("table", TABLES)
def test_committed_suite_equals_generated(suites_dir: Path, dataset: str, table: str) -> None:
    config = ValidateConfig.from_params(ROOT / "params.yaml")
    committed = suite_path(dataset, table, suites_dir)
    assert committed.is_file(), f"{committed} missing: run `movierec validate --write-suites`"
    assert committed.read_text() == suite_json(build_suite(dataset, table, config)), (
        f"{committed} drifted from the code contract: run `movierec validate --write-suites`"
    )


def test_no_stray_suite_files(suites_dir: Path) -> None:
    expected = {suite_path(d, t, suites_dir).name for d in DATASETS for t in TABLES}
    assert {p.name for p in suites_dir.glob("*.json")} == expected


@pytest.mark.parametrize(
    ("dataset", "allowed"),
    [("ml-100k", [1.0, 2.0, 3.0, 4.0, 5.0]), ("ml-1m", [1.0, 2.0, 3.0, 4.0, 5.0]),
     ("ml-latest-small", [0.5 * k for k in range(1, 11)]),
     ("ml-25m", [0.5 * k for k in range(1, 11)])],
)
def test_rating_scale_follows_the_registry(dataset: str, allowed: list[float]) -> None:
    suite = build_suite(dataset, "ratings")
    in_set = [e for e in _by_type(suite, "expect_column_values_to_be_in_set")
              if e["kwargs"]["column"] == "rating"]
    assert [e["kwargs"]["value_set"] for e in in_set] == [allowed]


def test_ratings_bounds_follow_registry_and_tolerances() -> None:
    spec = DATASETS["ml-100k"]
    config = ValidateConfig(row_count_tolerance=0.1, rating_mean_tolerance=0.2)
    suite = build_suite("ml-100k", "ratings", config)
    (count,) = _by_type(suite, "expect_table_row_count_to_be_between")
    assert count["kwargs"] == {"min_value": 90_000, "max_value": 110_000}
    (mean,) = _by_type(suite, "expect_column_mean_to_be_between")
    assert mean["kwargs"]["min_value"] == pytest.approx(spec.rating_mean - 0.2)
    assert mean["kwargs"]["max_value"] == pytest.approx(spec.rating_mean + 0.2)
    (period,) = [e for e in _by_type(suite, "expect_column_values_to_be_between")
                 if e["kwargs"]["column"] == "timestamp"]
    assert (period["kwargs"]["min_value"], period["kwargs"]["max_value"]) == (
        spec.first_timestamp, spec.last_timestamp)
    (pairs,) = _by_type(suite, "expect_compound_columns_to_be_unique")
    assert pairs["kwargs"]["column_list"] == ["user_id", "item_id"]
    not_null = {e["kwargs"]["column"] for e in
                _by_type(suite, "expect_column_values_to_not_be_null")}
    assert {"user_id", "item_id"} <= not_null
    requires = {e["meta"].get("requires") for e in suite["expectations"]} - {None}
    assert requires == {"items", "users"}


def test_default_tolerances_truncate_bound() -> None:
    spec = DATASETS["ml-25m"]
    suite = build_suite("ml-25m", "ratings", ValidateConfig())
    (count,) = _by_type(suite, "expect_table_row_count_to_be_between")
    assert count["kwargs"]["min_value"] == math.floor(spec.n_ratings * 0.98)


def test_write_then_load_round_trip(tmp_path: Path) -> None:
    written = write_suites(tmp_path, ValidateConfig(), datasets=("ml-100k",))
    assert [p.name for p in written] == [f"ml-100k.{t}.json" for t in TABLES]
    loaded = load_suite("ml-100k", "ratings", tmp_path)
    assert loaded == json.loads(suite_json(build_suite("ml-100k", "ratings")))


def test_load_suite_rejects_a_broken_file(tmp_path: Path) -> None:
    suite_path("ml-100k", "users", tmp_path).write_text("{not json")
    with pytest.raises(ValueError, match="write-suites"):
        load_suite("ml-100k", "users", tmp_path)


def test_unknown_table_and_dataset() -> None:
    with pytest.raises(ValueError, match="unknown table"):
        build_suite("ml-100k", "tags")
    with pytest.raises(ValueError, match="unknown dataset"):
        build_suite("ml-5k", "ratings")


def test_config_forbids_unknown_keys() -> None:
    with pytest.raises(ValueError):
        ValidateConfig.model_validate({"row_count_tolerance": 0.1, "typo": 1})
