"""``movierec data add`` then the pipeline on the added dataset with the ``large`` profile:
sampled leave-last-out evaluation, memory-budget skips shown in the leaderboard."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from movierec.cli import app
from recsys.data.synth import SynthConfig, write_synthetic

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]


def test_pipeline_on_an_added_synthetic_dataset(
    prefect_server: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, helpers: Any,
) -> None:
    project = tmp_path / "project"
    project.mkdir()
    monkeypatch.chdir(project)
    monkeypatch.delenv("MOVIEREC_DATASETS_FILE", raising=False)
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    # the large profile as shipped, with a budget that EASE's dense matrices exceed on this
    # catalogue and the popularity model's sparse ones do not
    params["profiles"]["large"]["train"]["memory_budget_gb"] = 0.01
    params["filter"]["enabled"] = False
    (project / "params.yaml").write_text(yaml.safe_dump(params))
    source = write_synthetic(tmp_path / "s20k", SynthConfig(n_ratings=20_000, n_users=150,
                                                            n_items=900, seed=2)).folder
    added = CliRunner().invoke(app, ["data", "add", "synth-20k", "--source", str(source)])
    assert added.exit_code == 0, added.output

    state = helpers.run_pipeline(project, source, dataset="synth-20k",
                                 models=["popularity", "ease", "mf"], profile="large")
    assert state.is_completed(), state.message
    summary = state.result()
    assert [row["variant"] for row in summary["leaderboard"]] == ["popularity"]
    assert summary["skipped"]["ease"].startswith("skipped: 3 dense items x items matrices")
    assert "needs" in summary["skipped"]["ease"] and "budget 0.0 GB" in summary["skipped"]["ease"]
    assert summary["skipped"]["mf"].startswith("skipped: fit took 385 s at 1M ratings")
    board = (project / "reports" / "evaluation" / "synth-20k" / "leaderboard.md").read_text()
    # sampled leave-last-out: one test rating for each of 10% of the 150 users
    assert "Evaluated on 15 test ratings of 15 users (protocol sampled-last-out" in board
    assert "| ease | skipped: 3 dense items x items matrices" in board
    assert summary["decision"]["champion_after"] is not None
