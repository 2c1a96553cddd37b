"""Credentials in a tracking URI never reach the output (one helper: ``redact_uri``)."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(("uri", "shown"), [
    ("postgresql+psycopg2://mlflow:s3cr%40t@db.internal:5432/mlflow",
     "postgresql+psycopg2://mlflow:***@db.internal:5432/mlflow"),
    ("https://alice:hunter2@mlflow.example:5000", "https://alice:***@mlflow.example:5000"),
    ("http://mlflow.local:5000/?token=abc&x=1", "http://mlflow.local:5000/?token=***&x=1"),
    ("sqlite:////home/me/project/mlflow.db", "sqlite:////home/me/project/mlflow.db"),
    ("http://127.0.0.1:5000", "http://127.0.0.1:5000"),
])
def test_redact_uri(uri: str, shown: str) -> None:
    from recsys.tracking.mlflow_runs import redact_uri

    assert redact_uri(uri) == shown


def test_run_summary_prints_no_password() -> None:
    from movierec.commands.pipeline import _summary_lines

    summary = {"tracking_uri": "https://alice:hunter2@mlflow.example:5000",
               "decision": {"summary": "movie-recommender-ml-100k v1 (ease)"},
               "mlflow_run_id": "abc", "reports": {}, "bento": None}
    text = "\n".join(_summary_lines(summary))
    assert "hunter2" not in text and "alice:***@mlflow.example:5000" in text
