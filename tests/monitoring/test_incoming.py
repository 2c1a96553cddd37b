"""The incoming ratings of drift retrains: a batch joins them only after a completed retrain."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from recsys.monitoring.incoming import (
    add_pending,
    incoming_path,
    pending_path,
    read_pending,
    staged_batch,
    training_snapshot,
)
from recsys.monitoring.state import read_state


def _ratings(users: range, items: int = 30, seed: int = 0, start: int = 880_000_000) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    rows = [(u, i, float(rng.integers(1, 6)), start + 3600 * n)
            for n, (u, i) in enumerate((u, i) for u in users
                                        for i in rng.choice(np.arange(1, items + 1), 8, replace=False))]
    return pd.DataFrame(rows, columns=["user_id", "item_id", "rating", "timestamp"])


@pytest.mark.unit
def test_failed_block_leaves_the_incoming_ratings_untouched(tmp_path: Path) -> None:
    incoming = incoming_path("ml-100k", tmp_path)
    incoming.parent.mkdir(parents=True)
    _ratings(range(1, 5)).to_parquet(incoming, index=False)
    before = incoming.read_bytes()
    with pytest.raises(RuntimeError, match="pipeline failed"), \
            staged_batch(incoming, _ratings(range(100, 110), seed=1)) as staged:
        assert staged.is_file() and staged.parent == incoming.parent
        raise RuntimeError("pipeline failed")
    assert incoming.read_bytes() == before
    assert sorted(p.name for p in incoming.parent.iterdir()) == ["ratings.parquet"]


@pytest.mark.unit
def test_completed_block_promotes_the_merge_keeping_the_newest_rating(tmp_path: Path) -> None:
    incoming = incoming_path("ml-100k", tmp_path)
    with staged_batch(incoming, _ratings(range(1, 3))):
        assert not incoming.exists()  # nothing is promoted before the block completes
    earlier = pd.read_parquet(incoming)
    first = earlier.iloc[0]
    late = pd.DataFrame({"user_id": [first["user_id"]], "item_id": [first["item_id"]],
                         "rating": [1.0 if first["rating"] != 1.0 else 5.0],
                         "timestamp": [int(first["timestamp"]) - 10]})  # arrives late, is older
    newer = late.assign(user_id=[999], timestamp=[int(first["timestamp"]) + 10])
    with staged_batch(incoming, pd.concat([late, newer], ignore_index=True)) as staged:
        extra = pd.read_parquet(staged)
    after = pd.read_parquet(incoming)
    pd.testing.assert_frame_equal(after, extra)
    assert len(after) == len(earlier) + 1
    kept = after[(after["user_id"] == first["user_id"]) & (after["item_id"] == first["item_id"])]
    assert kept["rating"].tolist() == [first["rating"]]  # the newer rating, not the file order
    assert sorted(p.name for p in incoming.parent.iterdir()) == ["ratings.parquet"]
    assert len(training_snapshot(_ratings(range(50, 52), seed=2), incoming)) == len(after) + 16


@pytest.mark.integration
def test_monitor_keeps_the_batch_out_of_incoming_when_the_retrain_fails(tmp_path: Path) -> None:
    """`movierec monitor` with a real pipeline that fails at once (no raw data folder)."""
    ratings = _ratings(range(1, 41))
    ratings.to_csv(tmp_path / "reference.csv", index=False)
    # a burst of 400 new users, ten times the reference's: new_user drifts
    batch = _ratings(range(5000, 5400), seed=3, start=890_000_000)
    batch.to_csv(tmp_path / "batch.csv", index=False)
    params = yaml.safe_load((Path(__file__).parents[2] / "params.yaml").read_text())
    params["monitor"] = {**params.get("monitor", {}), "min_batch_rows": 10, "cooldown_hours": 0}
    # valid parameters (a bad one now stops `monitor` before any work), but the raw data
    # folder is a file: the pipeline fails at its first step
    params["data"] = {**params.get("data", {}), "raw_dir": "reference.csv"}
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    incoming = tmp_path / "data" / "incoming" / "ml-100k" / "ratings.parquet"
    incoming.parent.mkdir(parents=True)
    _ratings(range(41, 45), seed=4).to_parquet(incoming, index=False)
    before = incoming.read_bytes()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "MLFLOW_"))}
    result = subprocess.run(
        [sys.executable, "-c", "from movierec.cli import main; main()", "monitor",
         "--current", "batch.csv", "--reference", "reference.csv", "--skip-validation"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600, check=False,
    )
    assert result.returncode != 0, result.stdout + result.stderr
    # "failed" (the invalid parameter), or "crashed" if Prefect's temporary server could
    # not start on a loaded machine: either way the batch must stay out of the incoming data
    assert "retraining pipeline" in " ".join(result.stderr.split()), result.stderr
    assert incoming.read_bytes() == before
    assert sorted(p.name for p in incoming.parent.iterdir()) == ["ratings.parquet"]
    # no cooldown started (the state file holds only the budget the check opened)
    assert "last_retrain" not in read_state(tmp_path / ".movierec" / "monitor" / "state.json")


@pytest.mark.integration
def test_monitor_reports_a_retrain_that_cannot_start_in_one_line(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A flow that cannot run at all (Prefect's temporary server did not start) is an error
    line, not a traceback, and the batch stays out of the incoming data."""
    from typer.testing import CliRunner

    import flows.launch
    from movierec.cli import app

    _ratings(range(1, 41)).to_csv(tmp_path / "reference.csv", index=False)
    _ratings(range(5000, 5400), seed=3, start=890_000_000).to_csv(tmp_path / "batch.csv",
                                                                  index=False)
    params = yaml.safe_load((Path(__file__).parents[2] / "params.yaml").read_text())
    params["monitor"] = {**params.get("monitor", {}), "min_batch_rows": 10, "cooldown_hours": 0}
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))

    def unreachable(**_: object) -> None:
        raise RuntimeError("Timed out while attempting to connect to ephemeral Prefect API server.")

    monkeypatch.setattr(flows.launch, "configured_pipeline", lambda: unreachable)
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(app, ["monitor", "--current", "batch.csv", "--reference",
                                      "reference.csv", "--skip-validation"])
    assert result.exit_code == 1, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert "retraining pipeline could not run: Timed out while attempting" in " ".join(result.output.split())
    assert "Traceback" not in result.output
    assert not incoming_path("ml-100k", tmp_path).exists()


@pytest.mark.unit
def test_pending_batches_pile_up_until_read(tmp_path: Path) -> None:
    pending = pending_path("ml-100k", tmp_path)
    assert read_pending(pending) is None
    first, second = _ratings(range(1, 4), seed=1), _ratings(range(4, 6), seed=2)
    add_pending(pending, first)
    add_pending(pending, second)
    got = read_pending(pending)
    assert got is not None and len(got) == len(first) + len(second)
    assert set(got["user_id"]) == set(range(1, 6))
