"""Validate ratings, items and users tables against the Great Expectations suites.

``validate_tables`` runs one GX Checkpoint per table in an ephemeral context (pandas
datasource, whole-dataframe batch definition, the committed suite of ``expectations/``,
a ``ValidationDefinition``) whose ``UpdateDataDocsAction`` builds the Data Docs site under
``docs_dir``. It returns a ``ValidationResult`` whose ``summary`` names each failed expectation
with a few offending rows; callers that must stop on bad data raise ``ValidationError``.

Files that cannot be read as a table at all (binary, JSON, empty) are reported as failures of
that table rather than raised, so every caller handles bad data in one way.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from numbers import Integral
from pathlib import Path
from typing import Any

import pandas as pd

from recsys.data.registry import get_spec
from recsys.data.schema import ITEM_ID, RATING, TIMESTAMP, USER_ID
from recsys.data.tables import UnreadableTableError, read_table_file
from recsys.validation.results import passed_check, write_results
from recsys.validation.suites import (
    DEFAULT_SUITES_DIR,
    LOOKUP_COLUMNS,
    NUMBER_TYPES,
    TABLES,
    ValidateConfig,
    load_suite,
)

TableInput = str | Path | pd.DataFrame
DEFAULT_DOCS_DIR = Path("reports/data-quality")
DOCS_SITE = "movierec_data_quality"
#: Offending rows quoted per failed expectation.
N_EXAMPLES = 5
#: Key columns that identify an offending row of each table.
KEY_COLUMNS: dict[str, list[str]] = {
    "ratings": [USER_ID, ITEM_ID],
    "items": [ITEM_ID],
    "users": [USER_ID],
}


class ValidationError(Exception):
    """Raised by callers when validation fails; carries the ``ValidationResult``."""

    def __init__(self, result: ValidationResult) -> None:
        super().__init__(result.summary)
        self.result = result


@dataclass(frozen=True)
class ValidationResult:
    """The outcome of validating the tables of one dataset.

    Attributes:
        success: every expectation of every given table passed.
        dataset: registry name the tables were checked against.
        failures: one dict per failed expectation (or unreadable table) with keys ``table``,
            ``source``, ``expectation``, ``description``, ``column``, ``observed``,
            ``expected``, ``unexpected_count``, ``element_count``, ``examples`` (a few
            offending rows), ``error`` (why it could not be evaluated) and
            ``missing_columns``.
        n_expectations: expectations evaluated over all tables.
        per_table: table name -> number of expectations evaluated.
        docs_index: the Data Docs ``index.html``, or ``None`` when no table could be read.
        seconds: wall time of the validation (GX import excluded).
    """

    success: bool
    dataset: str
    failures: list[dict[str, Any]]
    n_expectations: int
    per_table: dict[str, int] = field(default_factory=dict)
    docs_index: Path | None = None
    seconds: float = 0.0

    @property
    def n_failed(self) -> int:
        return len(self.failures)

    @property
    def summary(self) -> str:
        """One line on success; otherwise one block per table naming each failed expectation."""
        docs = f"Data Docs: {self.docs_index}" if self.docs_index else "no Data Docs built"
        if self.success:
            counts = ", ".join(f"{name} {n}" for name, n in self.per_table.items())
            return (f"{self.dataset}: all {self.n_expectations} expectations passed "
                    f"({counts}); {docs}")
        lines = [f"{self.dataset}: validation FAILED, {self.n_failed} of {self.n_expectations} "
                 f"expectations failed; {docs}"]
        tables = dict.fromkeys(f["table"] for f in self.failures)
        for table in tables:
            own = [f for f in self.failures if f["table"] == table]
            lines.append(f"{table} ({own[0]['source']}):")
            skipped: dict[str, list[str]] = {}
            for failure in own:
                if failure.get("missing_columns"):
                    missing = ", ".join(failure["missing_columns"])
                    skipped.setdefault(missing, []).append(failure["description"])
                else:
                    lines.append(f"  - {_describe(failure)}")
            for missing, descriptions in skipped.items():
                lines.append(f"  - not evaluated because column(s) {missing} are missing: "
                             + "; ".join(descriptions))
        return "\n".join(lines)

    def raise_for_failure(self) -> None:
        """Raise ``ValidationError`` unless every expectation passed."""
        if not self.success:
            raise ValidationError(self)


def _describe(failure: Mapping[str, Any]) -> str:
    text = f"{failure['description']} [{failure['expectation']}]"
    if failure.get("error"):
        return f"{text}: {failure['error']}"
    details = []
    if failure.get("unexpected_count"):
        total = failure.get("element_count")
        of = f" of {total:,}" if isinstance(total, Integral) else ""
        details.append(f"{failure['unexpected_count']:,}{of} rows fail")
    if failure.get("observed") is not None:
        details.append(f"observed {failure['observed']}")
    if failure.get("expected"):
        details.append(f"expected {failure['expected']}")
    examples = failure.get("examples") or []
    if examples:
        shown = "; ".join(_format_row(row) for row in examples)
        details.append(f"e.g. {shown}")
    return f"{text}: {', '.join(details)}" if details else text


def _format_value(value: Any) -> str:
    if hasattr(value, "item"):  # numpy scalars print as np.int64(1) otherwise
        value = value.item()
    if isinstance(value, float) and value.is_integer() and abs(value) >= 1e6:
        value = int(value)  # a timestamp, not 874724710.0
    return repr(value) if isinstance(value, str) else str(value)


def _format_row(row: Any) -> str:
    if isinstance(row, Mapping):
        return " ".join(f"{key}={_format_value(value)}" for key, value in row.items())
    if isinstance(row, list | tuple):
        return "(" + ", ".join(_format_value(v) for v in row) + ")"
    return _format_value(row)


def read_table(source: TableInput, table: str = "table") -> pd.DataFrame:
    """Read a CSV or Parquet file (:func:`recsys.data.tables.read_table_file`), or pass a
    frame through.

    Raises:
        FileNotFoundError: the path does not exist.
        UnreadableTableError: the file is not a CSV or Parquet table, with the reason.
    """
    if isinstance(source, pd.DataFrame):
        return source
    return read_table_file(source, f"{table} table")


def _for_gx(frame: pd.DataFrame) -> pd.DataFrame:
    """The frame as GX 1.24 can type-check it.

    GX's type-list check does not recognise pandas 3's ``str`` dtype, so text columns are
    handed over as ``object``; GX then checks the type of each value. Values are unchanged.
    """
    text = [c for c, dtype in frame.dtypes.items()
            if pd.api.types.is_string_dtype(dtype) and not pd.api.types.is_object_dtype(dtype)]
    out = frame.astype(dict.fromkeys(text, object)) if text else frame.copy()
    # A numeric column read as text because of a few bad cells: the cells that are numbers
    # become numbers, so the type and range checks name the bad rows, not every row.
    for column in (USER_ID, ITEM_ID, RATING, TIMESTAMP):
        if column in out and pd.api.types.is_object_dtype(out[column].dtype):
            out[column] = out[column].map(lambda v, c=column: _number_or_text(v, c))
    return out.reset_index(drop=True)


def _number_or_text(value: Any, column: str) -> Any:
    """``value`` as a number when it is the text of one (ids and times as ``int``)."""
    if not isinstance(value, str):
        return value
    try:
        number = float(value)
    except ValueError:
        return value
    return int(number) if column != RATING and number.is_integer() else number


def _source_label(source: TableInput) -> str:
    return "DataFrame" if isinstance(source, pd.DataFrame) else str(source)


def _docs_site(docs_dir: Path) -> dict[str, Any]:
    return {
        "class_name": "SiteBuilder",
        "show_how_to_buttons": False,
        "store_backend": {
            "class_name": "TupleFilesystemStoreBackend",
            "base_directory": str(docs_dir.resolve()),
        },
        "site_index_builder": {"class_name": "DefaultSiteIndexBuilder"},
    }


def _context(docs_dir: Path) -> Any:
    import great_expectations as gx
    from great_expectations.data_context.types.base import (
        DataContextConfig,
        InMemoryStoreBackendDefaults,
        ProgressBarsConfig,
    )

    config = DataContextConfig(
        store_backend_defaults=InMemoryStoreBackendDefaults(init_temp_docs_sites=False),
        data_docs_sites={DOCS_SITE: _docs_site(docs_dir)},
        progress_bars=ProgressBarsConfig(globally=False),
    )
    return gx.get_context(mode="ephemeral", project_config=config)


def _exception_message(info: Mapping[str, Any] | None) -> str | None:
    """GX puts the exception at the top level or keyed by the failing metric."""
    if not info:
        return None
    if info.get("raised_exception"):
        return str(info.get("exception_message") or "raised an exception")
    for value in info.values():
        if isinstance(value, Mapping) and value.get("exception_message"):
            return str(value["exception_message"])
    return None


def _columns_of(kwargs: Mapping[str, Any]) -> list[str]:
    if "column" in kwargs:
        return [kwargs["column"]]
    return list(kwargs.get("column_list") or [])


def _expected(kind: str, kwargs: Mapping[str, Any]) -> str | None:
    if "min_value" in kwargs or "max_value" in kwargs:
        low, high = (_format_value(kwargs.get(k)) for k in ("min_value", "max_value"))
        return f"between {low} and {high}"
    if kind == "expect_column_values_to_be_in_type_list":
        return " or ".join(kwargs.get("type_list") or [])
    return None


def _offending_rows(
    frame: pd.DataFrame, positions: list[int], columns: list[str], table: str
) -> list[dict[str, Any]]:
    """``row`` (0-based position), the table's key columns and the checked columns."""
    shown = [c for c in dict.fromkeys([*KEY_COLUMNS[table], *columns]) if c in frame.columns]
    rows = frame.iloc[positions][shown]
    return [{"row": int(position), **{str(k): v for k, v in record.items()}}
            for position, record in zip(positions, rows.to_dict("records"), strict=True)]


def _non_numeric_positions(frame: pd.DataFrame, column: str) -> tuple[list[int], int]:
    """Positions of the first values of ``column`` that are not numbers, and how many there
    are (for a type failure: GX counts every row of a text column)."""
    values = frame[column]
    bad = (values.notna() & pd.to_numeric(values, errors="coerce").isna()).to_numpy()
    return [int(i) for i in bad.nonzero()[0][:N_EXAMPLES]], int(bad.sum())


def _failure(
    table: str, source: str, outcome: Any, frame: pd.DataFrame
) -> dict[str, Any]:
    config = outcome.expectation_config
    kwargs = dict(config.kwargs)
    result = dict(outcome.result or {})
    columns = _columns_of(kwargs)
    missing = [c for c in columns if c not in frame.columns]
    error = None
    if config.type == "expect_column_to_exist":
        missing = []
    if missing:
        error = f"not evaluated, column(s) {', '.join(missing)} missing"
    elif (message := _exception_message(outcome.exception_info)) is not None:
        first = message.strip().splitlines()[0]
        error = f"could not be evaluated: {first[:160] + '...' if len(first) > 160 else first}"
    positions = [int(i) for i in result.get("partial_unexpected_index_list") or []
                 if isinstance(i, Integral)]
    numeric_types = set(kwargs.get("type_list") or ["?"]) <= set(NUMBER_TYPES)
    unexpected_count = result.get("unexpected_count")
    if config.type == "expect_column_values_to_be_in_type_list" and numeric_types and not error:
        text_positions, n_text = _non_numeric_positions(frame, columns[0])
        if n_text:
            positions, unexpected_count = text_positions, n_text
    # a type check of a column that is all text reports no element count of its own
    element_count = result.get("element_count")
    if element_count is None and unexpected_count is not None:
        element_count = len(frame)
    examples: list[Any] = (
        _offending_rows(frame, positions, columns, table) if positions and not missing
        else list(result.get("partial_unexpected_list") or [])
    )
    observed = result.get("observed_value")
    if config.type == "expect_column_to_exist":
        found = [str(c) for c in frame.columns if c not in LOOKUP_COLUMNS]
        observed = f"columns {', '.join(found) or '(none)'}"
    return {
        "table": table,
        "source": source,
        "expectation": config.type,
        "description": config.description or config.type,
        "column": columns[0] if len(columns) == 1 else columns,
        "observed": observed,
        "expected": _expected(config.type, kwargs),
        "unexpected_count": unexpected_count,
        "element_count": element_count,
        "examples": list(examples)[:N_EXAMPLES],
        "error": error,
        "missing_columns": missing,
    }


def _with_lookups(ratings: pd.DataFrame, frames: Mapping[str, pd.DataFrame]) -> pd.DataFrame:
    """Add the boolean lookup columns (``item_id_in_items`` ...) the other tables allow."""
    added = {}
    for lookup, (key, other) in LOOKUP_COLUMNS.items():
        table = frames.get(other)
        if table is not None and key in ratings.columns and key in table.columns:
            added[lookup] = ratings[key].isin(table[key]).to_numpy()
    return ratings.assign(**added) if added else ratings


def _runtime_suite(suite: dict[str, Any], frame: pd.DataFrame) -> dict[str, Any]:
    """Drop the lookup expectations whose column could not be computed.

    That happens when the other table was not given, was unreadable, or either side lacks
    the key column (which its own column-exists expectation then reports).
    """
    kept = [e for e in suite["expectations"]
            if not (e.get("meta") or {}).get("requires")
            or e["kwargs"].get("column") in frame.columns]
    return {**suite, "expectations": kept}


#: Whole-dataset expectations that an incremental batch is not held to.
_WHOLE_DATASET_ONLY = {"expect_table_row_count_to_be_between", "expect_column_mean_to_be_between"}


def _batch_suite(suite: dict[str, Any]) -> dict[str, Any]:
    """The ratings suite for a new batch: no volume or mean bounds, no end of period."""
    kept = []
    for expectation in suite["expectations"]:
        if expectation["type"] in _WHOLE_DATASET_ONLY:
            continue
        if expectation["kwargs"].get("column") == TIMESTAMP and "max_value" in expectation["kwargs"]:
            expectation = {**expectation, "kwargs": {**expectation["kwargs"], "max_value": None}}
        kept.append(expectation)
    return {**suite, "expectations": kept}


def validate_tables(
    ratings: TableInput,
    items: TableInput | None = None,
    users: TableInput | None = None,
    *,
    dataset: str = "ml-100k",
    docs_dir: Path = DEFAULT_DOCS_DIR,
    suites_dir: Path = DEFAULT_SUITES_DIR,
    config: ValidateConfig | None = None,
    batch: bool = False,
) -> ValidationResult:
    """Check the tables against the dataset's suites and build the Data Docs.

    Args:
        ratings: ratings table, a CSV/Parquet path or a DataFrame.
        items: optional items table; when given, every rated item must be in it.
        users: optional users table; when given, every rating's user must be in it.
        dataset: registry name whose scale, period, row count and mean apply.
        docs_dir: the Data Docs site (``index.html``) is built here.
        suites_dir: folder of the committed suites (``<dataset>.<table>.json``); a missing
            file falls back to the suite generated from the contract (identical by test).
        config: tolerances used only for that fallback (default: ``params.yaml``).
        batch: ``ratings`` is an incremental batch (monitoring), not the whole dataset: the
            whole-dataset bounds (row count, mean rating, end of the rating period) do not
            apply; every per-row check still does.

    Returns:
        The result; ``success`` is False when any expectation failed or a file was unreadable.

    Raises:
        FileNotFoundError: a given path does not exist.
        UnknownDatasetError: ``dataset`` is not in the registry.
    """
    get_spec(dataset)
    docs_dir = Path(docs_dir)
    sources: dict[str, TableInput] = {"ratings": ratings}
    if items is not None:
        sources["items"] = items
    if users is not None:
        sources["users"] = users

    failures: list[dict[str, Any]] = []
    frames: dict[str, pd.DataFrame] = {}
    for table, source in sources.items():
        try:
            frames[table] = read_table(source, table)
        except UnreadableTableError as exc:
            failures.append({
                "table": table, "source": _source_label(source), "expectation": "readable_table",
                "description": "the file is a CSV or Parquet table", "column": None,
                "observed": None, "expected": None, "unexpected_count": None,
                "element_count": None, "examples": [], "error": str(exc),
                "missing_columns": [],
            })
    if not frames:
        return ValidationResult(False, dataset, failures, n_expectations=len(failures))

    import great_expectations as gx
    from great_expectations.checkpoint import UpdateDataDocsAction

    started = time.perf_counter()
    config = config or ValidateConfig.from_params()
    context = _context(docs_dir)
    datasource = context.data_sources.add_pandas(name=dataset)
    n_expectations = len(failures)
    per_table: dict[str, int] = {}
    passed: list[dict[str, Any]] = []
    for table in TABLES:
        if table not in frames:
            continue
        frame = frames[table]
        if table == "ratings":
            frame = _with_lookups(frame, frames)
        suite_dict = _runtime_suite(load_suite(dataset, table, suites_dir, config), frame)
        if batch and table == "ratings":
            suite_dict = _batch_suite(suite_dict)
        position = {(e["type"], e.get("description")): i
                    for i, e in enumerate(suite_dict["expectations"])}
        suite = context.suites.add(gx.ExpectationSuite(**suite_dict))
        whole = datasource.add_dataframe_asset(name=table).add_batch_definition_whole_dataframe(
            name=f"{table}-whole")
        definition = context.validation_definitions.add(
            gx.ValidationDefinition(name=f"{dataset}.{table}", data=whole, suite=suite))
        # Row positions, not `unexpected_index_column_names`: GX 1.24 builds that list with
        # one `df.at` per unexpected row (a minute when most of 100k rows fail); the key
        # columns of the few quoted rows are looked up afterwards (`_offending_rows`).
        checkpoint = context.checkpoints.add(gx.Checkpoint(
            name=f"{dataset}.{table}",
            validation_definitions=[definition],
            actions=[UpdateDataDocsAction(name="build_data_docs", site_names=[DOCS_SITE])],
            result_format={"result_format": "SUMMARY", "partial_unexpected_count": N_EXAMPLES},
        ))
        frame = _for_gx(frame)
        outcome = checkpoint.run(batch_parameters={"dataframe": frame})
        for run in outcome.run_results.values():
            per_table[table] = len(run.results)
            n_expectations += len(run.results)
            failed = sorted(
                (r for r in run.results if not r.success),
                key=lambda r: position.get(
                    (r.expectation_config.type, r.expectation_config.description), 0),
            )
            failures.extend(_failure(table, _source_label(sources[table]), r, frame)
                            for r in failed)
            passed.extend(passed_check(table, r) for r in run.results if r.success)
    order = {t: i for i, t in enumerate(TABLES)}
    failures.sort(key=lambda f: order[f["table"]])
    result = ValidationResult(
        success=not failures,
        dataset=dataset,
        failures=failures,
        n_expectations=n_expectations,
        per_table=per_table,
        docs_index=docs_dir / "index.html",
        seconds=time.perf_counter() - started,
    )
    write_results(docs_dir, dataset=dataset, success=result.success, batch=batch,
                  failures=failures, passed=passed, n_expectations=n_expectations,
                  docs_index=result.docs_index)
    return result
