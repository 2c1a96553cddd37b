"""`movierec monitor` end to end: drift decides, a retrain runs the pipeline, promotion decides."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from typer.testing import CliRunner

from movierec.cli import app

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def own_project(first_run: dict[str, Any], project: Path,
                tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the project after its first pipeline run: retraining here registers new
    versions, which must not leak into the other flow tests' registry."""
    import shutil

    copy = tmp_path_factory.mktemp("monitor") / "project"
    shutil.copytree(project, copy)
    return copy


def _uri(project: Path) -> str:
    return f"sqlite:///{project / 'mlflow.db'}"


def _monitor(project: Path, helpers: Any, *args: str) -> tuple[int, dict[str, Any] | None, str]:
    # MLflow exports the last tracking URI it was pointed at into the environment of this
    # (shared) test process: name this project's store explicitly, as a fresh shell would.
    with helpers.InFolder(project):
        result = CliRunner().invoke(app, ["monitor", *args],
                                    env={"MLFLOW_TRACKING_URI": _uri(project)})
    lines = [line for line in result.stdout.splitlines() if line.startswith("{")]
    return result.exit_code, (json.loads(lines[-1]) if lines else None), result.output


def _ratings(project: Path) -> pd.DataFrame:
    return pd.read_parquet(project / "data" / "processed" / "ml-100k" / "ratings.parquet")


def test_reference_batch_is_not_retrained(own_project: Path, tmp_path: Path,
                                          helpers: Any) -> None:
    project = own_project
    batch = tmp_path / "same.csv"
    _ratings(project).sample(2000, random_state=11).to_csv(batch, index=False)
    code, decision, output = _monitor(project, helpers, "--current", str(batch), "--decide-only")
    assert code == 0, output
    assert decision is not None
    assert list(decision)[:5] == ["drift_detected", "retrain", "drift_share", "drifted_columns",
                                  "report"]
    assert decision["drift_detected"] is False and decision["retrain"] is False


def test_a_batch_that_does_not_retrain_is_served_from_the_whole_histories(
        own_project: Path, tmp_path: Path, helpers: Any) -> None:
    """A small batch (under monitor.min_batch_rows) is kept as pending, and the whole
    histories of its users are written for the service (recsys.serving.recent)."""
    from recsys.monitoring.incoming import clear_pending, pending_path, recent_path
    from recsys.serving.recent import RecentHistories

    project = own_project
    ratings = _ratings(project)
    users = ratings["user_id"].drop_duplicates().sample(20, random_state=5).tolist()
    rows = []
    for n, user in enumerate(users):
        unseen = sorted(set(ratings["item_id"]) - set(ratings.loc[ratings["user_id"] == user,
                                                                   "item_id"]))
        rows += [(user, unseen[0], 4.0, 893_300_000 + n), (user, unseen[1], 2.0, 893_300_100 + n)]
    batch = tmp_path / "small.csv"
    pd.DataFrame(rows, columns=["user_id", "item_id", "rating", "timestamp"]).to_csv(batch,
                                                                                    index=False)
    try:
        code, decision, output = _monitor(project, helpers, "--current", str(batch))
        assert code == 0, output
        assert decision is not None and decision["retrain"] is False
        assert len(pd.read_parquet(project / pending_path("ml-100k"))) == 40
        recent = RecentHistories.read(project / recent_path("ml-100k"))
        assert sorted(recent.histories) == sorted(users)
        for user in users:
            whole = set(ratings.loc[ratings["user_id"] == user, "item_id"]) | {
                r[1] for r in rows if r[0] == user}
            assert set(recent.histories[user][0].tolist()) == whole
    finally:  # the retrain test below starts from nothing pending
        clear_pending("ml-100k", project / "data" / "incoming")


def test_malformed_batch_is_rejected_and_nothing_retrained(
    own_project: Path, tmp_path: Path, helpers: Any
) -> None:
    from recsys.tracking.registry import list_versions

    project = own_project
    before = len(list_versions(tracking_uri=_uri(project)))
    batch = _ratings(project).sample(500, random_state=12)
    batch.loc[batch.index[:20], "rating"] = 11.0
    path = tmp_path / "bad.csv"
    batch.to_csv(path, index=False)
    code, decision, output = _monitor(project, helpers, "--current", str(path))
    assert code != 0
    assert "rejected by validation" in output
    assert decision is not None and decision["retrain"] is False
    assert len(list_versions(tracking_uri=_uri(project))) == before


def test_burst_of_new_users_retrains_through_the_promotion_rule_then_cools_down(
    own_project: Path, tmp_path: Path, helpers: Any
) -> None:
    from recsys.tracking.registry import list_versions

    project = own_project
    uri = _uri(project)
    before = len(list_versions(tracking_uri=uri))
    batch = _ratings(project).sample(3000, random_state=13).copy()
    batch["user_id"] += 5000  # 3,000 ratings of users the model has never seen
    path = tmp_path / "new-users.parquet"
    batch.to_parquet(path, index=False)
    code, decision, output = _monitor(project, helpers, "--current", str(path))
    assert code == 0, output
    assert decision is not None
    assert decision["drift_detected"] is True and decision["retrain"] is True
    assert "new_user" in decision["drifted_columns"]
    run = decision["retrain_run"]
    assert run["mlflow_run_id"]
    assert run["tracking_uri"] == uri
    promotion = run["decision"]
    assert {"promoted", "champion_after"} <= set(promotion)
    # the retrained best became a new version; it serves only if the rule said so
    versions = list_versions(tracking_uri=uri)
    assert len(versions) == before + 1
    champion = [v for v in versions if "champion" in v["aliases"]]
    assert len(champion) == 1
    assert (champion[0]["version"] == promotion["version"]) == bool(promotion["promoted"])
    assert (project / "data" / "incoming" / "ml-100k" / "ratings.parquet").is_file()

    other = batch.copy()
    other["user_id"] += 5000  # another burst right away: drift, but within the cooldown
    other_path = tmp_path / "more-new-users.parquet"
    other.to_parquet(other_path, index=False)
    code, again, output = _monitor(project, helpers, "--current", str(other_path))
    assert code == 0, output
    assert again is not None
    assert again["drift_detected"] is True and again["retrain"] is False
    assert "cooldown" in again["reason"]
    assert len(list_versions(tracking_uri=uri)) == before + 1
