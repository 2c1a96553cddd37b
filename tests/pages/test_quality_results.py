"""Validation results per run on disk (``recsys.validation.results``) and on the dashboard."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from recsys.reporting.dashboard import DashboardSources
from recsys.reporting.quality import read_quality_runs
from recsys.reporting.site import build_dashboard
from recsys.validation.validate import validate_tables

pytestmark = pytest.mark.data

ROOT = Path(__file__).resolve().parents[2]


def test_every_expectation_and_the_failing_rows_reach_the_dashboard(
        ml100k: tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame], tmp_path: Path) -> None:
    ratings, items, _ = ml100k
    bad = ratings.copy()
    bad.loc[bad.index[:3], "rating"] = 7.0  # off the 1-5 scale
    path = tmp_path / "ratings.parquet"
    bad.to_parquet(path, index=False)
    docs = tmp_path / "reports" / "data-quality"
    result = validate_tables(path, items, docs_dir=docs, suites_dir=ROOT / "expectations",
                             dataset="ml-100k")
    assert not result.success

    (run,) = read_quality_runs(docs)
    assert run.n_expectations == result.n_expectations == len(run.checks)
    assert run.n_failed == result.n_failed >= 1
    assert sum(c.success for c in run.checks) == result.n_expectations - result.n_failed
    scale = next(c for c in run.checks if not c.success and c.column == "rating"
                 and c.expectation == "expect_column_values_to_be_in_set")
    assert scale.unexpected_count == 3 and len(scale.examples) == 3
    assert run.docs_index == docs / "index.html"

    page = build_dashboard(DashboardSources(root=tmp_path, tracking_uri=f"sqlite:///{tmp_path / 'mlflow.db'}"),
                           tmp_path / "reports").read_text()
    assert f"FAILED ({run.n_failed} of {run.n_expectations})" in page
    assert scale.examples[0].replace("'", "&#x27;") in page
    assert 'href="data-quality/index.html"' in page
