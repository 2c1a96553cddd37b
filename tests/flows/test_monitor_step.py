"""The ``monitor`` flow (``flows.monitor``): ``params.yaml``'s ``monitor:`` section, the
cooldown, validation first, and one reference for the CLI, the schedule and the pipeline."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import yaml

pytestmark = pytest.mark.integration


@pytest.fixture()
def new_user_batch(small_tables: dict[str, Any], tmp_path: Path) -> str:
    """600 ratings of users the training data has never seen: ``new_user`` drifts."""
    batch = pd.read_parquet(small_tables["a"]["test"]).sample(600, random_state=3)
    batch["user_id"] += 5000
    path = tmp_path / "batch.parquet"
    batch.to_parquet(path, index=False)
    return str(path)


def _params(folder: Path, **monitor: Any) -> str:
    path = folder / "params.yaml"
    path.write_text(yaml.safe_dump({"monitor": monitor}))
    return str(path)


def _run(tables: dict[str, Any], batch: str, folder: Path, params: str, **kw: Any) -> Any:
    from flows.monitor import monitor

    return monitor(batch, "ml-100k", reference_path=tables["a"]["train"],
                   items_path=tables["items"], decide_only=True, params_path=params,
                   tracking_uri=f"sqlite:///{folder / 'none.db'}", **kw)


def test_monitor_section_of_params_reaches_the_decision(
    prefect_server: None, small_tables: dict[str, Any], new_user_batch: str, tmp_path: Path,
    helpers: Any,
) -> None:
    params = _params(tmp_path, min_batch_rows=1000, cooldown_hours=0)
    with helpers.InFolder(tmp_path):
        decision = _run(small_tables, new_user_batch, tmp_path, params, name="params")
    assert decision["drift_detected"] is True and "new_user" in decision["drifted_columns"]
    assert decision["statistics"]["new_user"]["drifted"] is True
    assert decision["retrain"] is False
    assert "below min_batch_rows" in decision["reason"]
    assert (tmp_path / "reports" / "drift" / "monitor-runs.jsonl").is_file()


def test_monitor_flow_is_not_cached_across_a_cooldown(
    prefect_server: None, small_tables: dict[str, Any], new_user_batch: str, tmp_path: Path,
    helpers: Any,
) -> None:
    """Same inputs, but a retrain happened in between: the cooldown must hold it back."""
    from recsys.monitoring.state import DEFAULT_STATE, record_retrain

    params = _params(tmp_path, cooldown_hours=24)
    with helpers.InFolder(tmp_path):
        before = _run(small_tables, new_user_batch, tmp_path, params, name="cooldown")
        record_retrain(DEFAULT_STATE)
        after = _run(small_tables, new_user_batch, tmp_path, params, name="cooldown")
    assert before["retrain"] is True and before["retrain_run"] is None  # decide_only
    assert after["drift_detected"] is True and after["retrain"] is False
    assert "cooldown" in after["reason"]


def test_a_batch_validation_rejects_is_not_compared(
    prefect_server: None, small_tables: dict[str, Any], tmp_path: Path, helpers: Any
) -> None:
    batch = pd.read_parquet(small_tables["a"]["test"]).head(200)
    batch["rating"] = "good"
    path = tmp_path / "text.csv"
    batch.to_csv(path, index=False)
    with helpers.InFolder(tmp_path):
        outcome = _run(small_tables, str(path), tmp_path, _params(tmp_path))
    assert outcome["rejected"] is True and outcome["retrain"] is False
    assert "200 of 200 rows fail" in outcome["summary"]
    assert not (tmp_path / "reports" / "drift" / "decisions.jsonl").exists()


def test_schedule_and_cli_share_the_flow_and_its_reference() -> None:
    from flows.monitor import monitor
    from flows.serve import deployments

    hourly = [d for d in deployments() if d.name == "hourly-monitor"][0]
    assert hourly.flow_name == monitor.name
    assert hourly.parameters["current_path"] == "data/new/ml-100k/ratings.parquet"
    # no reference_path: the flow's one definition (processed ratings + learnt batches)
    assert "reference_path" not in hourly.parameters
