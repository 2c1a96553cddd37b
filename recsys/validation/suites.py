"""Great Expectations suites generated from the data contract.

The suites are derived from ``recsys.data.schema`` (columns, dtypes, rating scales) and the
dataset registry (``recsys.data.registry``: row count, mean rating, rating period), with the
tolerances of the ``validate:`` section of ``params.yaml``. They are written as JSON to
``expectations/<dataset>.<table>.json`` (``movierec validate --write-suites``), committed, and a
test checks that the committed files equal what this module generates, so the two cannot
drift apart.

Two expectations of the ratings suite depend on the other tables: "every rated item is in the
items table" and "every rating's user is in the users table". GX has no cross-table
expectation for pandas, and a value set of every catalogue id (a ``$PARAMETER``) makes GX 1.24
re-serialise the whole list hundreds of times per run (seconds for ML-100K, minutes for
ML-25M). So ``validate`` adds a boolean lookup column to the ratings batch (``item_id_in_items``
= ``item_id`` is in the items table, computed once with ``isin``) and the suite expects it to be
True; ``meta["requires"]`` names the table needed, and the expectation is left out when that
table is not given.
"""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from recsys.data.registry import DATASETS, DatasetSpec, get_spec
from recsys.data.schema import (
    ITEM_COLUMNS,
    ITEM_ID,
    RATING,
    RATING_COLUMNS,
    TIMESTAMP,
    USER_COLUMNS,
    USER_ID,
)

TABLES: tuple[str, ...] = ("ratings", "items", "users")
DEFAULT_SUITES_DIR = Path("expectations")

#: Lookup columns added to the ratings batch at validation time:
#: name -> (ratings key column, table that must contain it).
LOOKUP_COLUMNS: dict[str, tuple[str, str]] = {
    "item_id_in_items": (ITEM_ID, "items"),
    "user_id_in_users": (USER_ID, "users"),
}

#: Accepted pandas dtypes. Integer ids may arrive as int32 (e.g. from a compact Parquet
#: file); ratings may be integers in a CSV of an integer-star dataset.
INTEGER_TYPES: list[str] = ["int64", "int32"]
NUMBER_TYPES: list[str] = ["float64", "float32", "int64", "int32"]
#: Text columns are handed to GX as ``object`` (see ``validate._for_gx``), checked value by value.
TEXT_TYPES: list[str] = ["str"]
#: Release years may be nullable integers or floats (a CSV with missing years).
YEAR_TYPES: list[str] = ["Int64Dtype", "int64", "float64"]
#: The first film ever shown commercially was 1888; MovieLens' oldest titles date from 1874.
EARLIEST_RELEASE_YEAR = 1870


class ValidateConfig(BaseModel):
    """The ``validate:`` section of ``params.yaml``.

    Attributes:
        row_count_tolerance: allowed relative deviation of the number of ratings from the
            registry's ``n_ratings`` (0.02 = +-2 %), which catches a truncated file.
        rating_mean_tolerance: allowed absolute deviation (in stars) of the mean rating from
            the registry's ``rating_mean``, which catches a shifted or rescaled rating column.
        docs_dir: where the Data Docs (HTML) are built.
    """

    model_config = ConfigDict(extra="forbid")

    row_count_tolerance: float = Field(default=0.02, ge=0.0, lt=1.0)
    rating_mean_tolerance: float = Field(default=0.05, ge=0.0)
    docs_dir: str = "reports/data-quality"

    @classmethod
    def from_params(cls, path: str | Path = "params.yaml") -> ValidateConfig:
        """Read the ``validate:`` section (defaults when the file or section is absent)."""
        # on use: the strict params tree (recsys.params) composes this config class
        from recsys.params import section

        return cls.model_validate(section("validate", path))


def suite_name(dataset: str, table: str) -> str:
    """``ml-100k.ratings``: the suite name, also the JSON file's stem."""
    return f"{dataset}.{table}"


def suite_path(dataset: str, table: str, suites_dir: Path = DEFAULT_SUITES_DIR) -> Path:
    return Path(suites_dir) / f"{suite_name(dataset, table)}.json"


def _expectation(kind: str, description: str, meta: dict[str, Any] | None = None,
                 **kwargs: Any) -> dict[str, Any]:
    return {"type": kind, "kwargs": kwargs, "description": description, "meta": meta or {}}


def _columns_exist_and_typed(
    columns: tuple[str, ...], types: dict[str, list[str]]
) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    for column in columns:
        found.append(_expectation("expect_column_to_exist", f"column `{column}` is present",
                                  column=column))
    for column in columns:
        found.append(_expectation(
            "expect_column_values_to_be_in_type_list",
            f"`{column}` has type {' or '.join(types[column])}",
            column=column, type_list=types[column],
        ))
    return found


def _not_null(column: str) -> dict[str, Any]:
    return _expectation("expect_column_values_to_not_be_null", f"`{column}` has no missing values",
                        column=column)


def _ratings_expectations(spec: DatasetSpec, config: ValidateConfig) -> list[dict[str, Any]]:
    scale = spec.scale
    types = {USER_ID: INTEGER_TYPES, ITEM_ID: INTEGER_TYPES, RATING: NUMBER_TYPES,
             TIMESTAMP: INTEGER_TYPES}
    low_count = math.floor(round(spec.n_ratings * (1 - config.row_count_tolerance), 6))
    high_count = math.ceil(round(spec.n_ratings * (1 + config.row_count_tolerance), 6))
    low_mean = round(spec.rating_mean - config.rating_mean_tolerance, 5)
    high_mean = round(spec.rating_mean + config.rating_mean_tolerance, 5)
    first = datetime.fromtimestamp(spec.first_timestamp, UTC).date()
    last = datetime.fromtimestamp(spec.last_timestamp, UTC).date()
    return [
        *_columns_exist_and_typed(RATING_COLUMNS, types),
        *(_not_null(column) for column in RATING_COLUMNS),
        _expectation(
            "expect_column_values_to_be_in_set",
            f"`rating` is on the {spec.name} scale: {scale.minimum:g} to {scale.maximum:g} "
            f"in steps of {scale.step:g}",
            column=RATING, value_set=scale.allowed(),
        ),
        _expectation(
            "expect_compound_columns_to_be_unique",
            "each (`user_id`, `item_id`) pair is rated at most once",
            column_list=[USER_ID, ITEM_ID],
        ),
        _expectation(
            "expect_column_values_to_be_between",
            f"`timestamp` lies in the {spec.name} period ({first} to {last})",
            column=TIMESTAMP, min_value=spec.first_timestamp, max_value=spec.last_timestamp,
        ),
        _expectation(
            "expect_table_row_count_to_be_between",
            f"{spec.n_ratings:,} ratings +-{config.row_count_tolerance:.0%} "
            "(fewer means a truncated file)",
            min_value=low_count, max_value=high_count,
        ),
        _expectation(
            "expect_column_mean_to_be_between",
            f"mean rating {spec.rating_mean:g} +-{config.rating_mean_tolerance:g} "
            "(else the ratings are shifted or rescaled)",
            column=RATING, min_value=low_mean, max_value=high_mean,
        ),
        *(
            _expectation(
                "expect_column_values_to_be_in_set",
                f"every rating's `{key}` exists in the {other} table",
                meta={"requires": other, "lookup_of": key},
                column=lookup, value_set=[True],
            )
            for lookup, (key, other) in LOOKUP_COLUMNS.items()
        ),
    ]


def _items_expectations(spec: DatasetSpec) -> list[dict[str, Any]]:
    types = {ITEM_ID: INTEGER_TYPES, "title": TEXT_TYPES, "year": YEAR_TYPES,
             "genres": TEXT_TYPES}
    latest_year = datetime.fromtimestamp(spec.last_timestamp, UTC).year + 1
    return [
        *_columns_exist_and_typed(ITEM_COLUMNS, types),
        _not_null(ITEM_ID),
        _not_null("title"),
        _expectation("expect_column_values_to_be_unique", "`item_id` is unique",
                     column=ITEM_ID),
        _expectation(
            "expect_column_values_to_be_between",
            f"`year` (when known) lies between {EARLIEST_RELEASE_YEAR} and {latest_year}",
            column="year", min_value=EARLIEST_RELEASE_YEAR, max_value=latest_year,
        ),
        _expectation("expect_table_row_count_to_be_between", "the items table is not empty",
                     min_value=1),
    ]


def _users_expectations() -> list[dict[str, Any]]:
    return [
        *_columns_exist_and_typed(USER_COLUMNS, {USER_ID: INTEGER_TYPES}),
        _not_null(USER_ID),
        _expectation("expect_column_values_to_be_unique", "`user_id` is unique",
                     column=USER_ID),
        _expectation("expect_table_row_count_to_be_between", "the users table is not empty",
                     min_value=1),
    ]


def build_suite(dataset: str, table: str, config: ValidateConfig | None = None) -> dict[str, Any]:
    """The suite of one table of ``dataset`` as GX's JSON dict.

    The expectations are instantiated as GX ``Expectation`` objects (which checks every
    argument) and serialised with ``ExpectationSuite.to_json_dict``.

    Raises:
        ValueError: for an unknown dataset or table.
    """
    import great_expectations as gx
    from great_expectations.expectations.registry import get_expectation_impl

    spec = get_spec(dataset)
    config = config or ValidateConfig()
    if table == "ratings":
        raw = _ratings_expectations(spec, config)
    elif table == "items":
        raw = _items_expectations(spec)
    elif table == "users":
        raw = _users_expectations()
    else:
        raise ValueError(f"unknown table {table!r}; choose one of: {', '.join(TABLES)}")
    expectations = [
        get_expectation_impl(e["type"])(**e["kwargs"], description=e["description"],
                                        meta=e["meta"])
        for e in raw
    ]
    suite = gx.ExpectationSuite(
        name=suite_name(dataset, table),
        expectations=expectations,
        meta={
            "generated_by": "recsys.validation.suites (movierec validate --write-suites)",
            "dataset": dataset,
            "table": table,
        },
    )
    return suite.to_json_dict()


def suite_json(suite: dict[str, Any]) -> str:
    """The canonical text of a suite file (stable key order, trailing newline)."""
    return json.dumps(suite, indent=2, sort_keys=True) + "\n"


def write_suites(
    suites_dir: Path = DEFAULT_SUITES_DIR,
    config: ValidateConfig | None = None,
    datasets: tuple[str, ...] | None = None,
) -> list[Path]:
    """(Re)generate ``<suites_dir>/<dataset>.<table>.json`` for every dataset and table."""
    suites_dir = Path(suites_dir)
    suites_dir.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    for dataset in datasets or tuple(DATASETS):
        for table in TABLES:
            path = suite_path(dataset, table, suites_dir)
            path.write_text(suite_json(build_suite(dataset, table, config)))
            written.append(path)
    return written


def load_suite(
    dataset: str,
    table: str,
    suites_dir: Path = DEFAULT_SUITES_DIR,
    config: ValidateConfig | None = None,
) -> dict[str, Any]:
    """The committed suite of ``dataset``/``table``, or the generated one when no file exists.

    Raises:
        ValueError: when the file exists but is not a valid suite.
    """
    path = suite_path(dataset, table, suites_dir)
    if not path.is_file():
        return build_suite(dataset, table, config)
    try:
        loaded = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path}: not valid JSON ({exc}); regenerate it with "
                         "`movierec validate --write-suites`") from exc
    if not isinstance(loaded, dict) or "expectations" not in loaded:
        raise ValueError(f"{path}: not an expectation suite")
    return loaded
