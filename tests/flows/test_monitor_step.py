"""The pipeline's monitor step: ``params.yaml``'s ``monitor:`` section and the cooldown apply."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import yaml

pytestmark = pytest.mark.integration


@pytest.fixture()
def new_user_batch(small_tables: dict[str, Any], tmp_path: Path) -> str:
    """600 ratings of users the training data has never seen: the critical ``new_user``
    column drifts."""
    batch = pd.read_parquet(small_tables["a"]["test"]).sample(600, random_state=3)
    batch["user_id"] += 5000
    path = tmp_path / "batch.parquet"
    batch.to_parquet(path, index=False)
    return str(path)


def _params(folder: Path, **monitor: Any) -> str:
    path = folder / "params.yaml"
    path.write_text(yaml.safe_dump({"monitor": monitor}))
    return str(path)


def test_monitor_section_of_params_reaches_the_decision(
    prefect_server: None, small_tables: dict[str, Any], new_user_batch: str, tmp_path: Path,
    helpers: Any,
) -> None:
    from flows.steps import monitor

    params = _params(tmp_path, min_batch_rows=1000, cooldown_hours=0)
    with helpers.InFolder(tmp_path):
        decision = monitor(small_tables["a"]["train"], new_user_batch, small_tables["items"],
                           name="params", params_path=params)
    assert decision["drift_detected"] is True and "new_user" in decision["drifted_columns"]
    assert decision["retrain"] is False
    assert "below min_batch_rows" in decision["reason"]


def test_monitor_step_is_not_cached_across_a_cooldown(
    prefect_server: None, small_tables: dict[str, Any], new_user_batch: str, tmp_path: Path,
    helpers: Any,
) -> None:
    """Same inputs, but a retrain happened in between: the cooldown must hold it back."""
    from flows.steps import monitor
    from recsys.monitoring.drift import DEFAULT_STATE, record_retrain

    params = _params(tmp_path, cooldown_hours=24)
    args = (small_tables["a"]["train"], new_user_batch, small_tables["items"])
    with helpers.InFolder(tmp_path):
        before = monitor(*args, name="cooldown", params_path=params)
        record_retrain(DEFAULT_STATE)
        after = monitor(*args, name="cooldown", params_path=params)
    assert before["retrain"] is True
    assert after["drift_detected"] is True and after["retrain"] is False
    assert "cooldown" in after["reason"]
