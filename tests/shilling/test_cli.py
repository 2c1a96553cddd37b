"""``movierec shilling attack|detect|filter`` end to end on ML-100K."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from movierec.cli import app

pytestmark = pytest.mark.data


def test_attack_detect_filter_end_to_end(ml100k_dir: Path, tmp_path: Path) -> None:
    runner = CliRunner()
    raw = ml100k_dir / "ratings.parquet"
    raw_before = raw.read_bytes()
    poisoned = tmp_path / "poisoned.csv"
    result = runner.invoke(app, ["shilling", "attack", "--ratings", str(raw), "--kind", "average",
                                 "--size", "0.05", "--filler", "0.05", "--target", "300",
                                 "--out", str(poisoned)])
    assert result.exit_code == 0, result.output
    fakes = pd.read_csv(tmp_path / "poisoned.fake_users.csv")
    assert len(fakes) == 47 and fakes["user_id"].min() == 944

    scores_path = tmp_path / "scores.csv"
    result = runner.invoke(app, ["shilling", "detect", "--ratings", str(poisoned), "--out", str(scores_path)])
    assert result.exit_code == 0, result.output
    scores = pd.read_csv(scores_path)
    assert list(scores.columns) == ["user_id", "score", "flagged"]
    assert scores.loc[scores["user_id"].isin(fakes["user_id"]), "flagged"].mean() >= 0.95

    kept, held, report = tmp_path / "kept.parquet", tmp_path / "quarantine.parquet", tmp_path / "r.json"
    result = runner.invoke(app, ["shilling", "filter", "--ratings", str(poisoned), "--out", str(kept),
                                 "--quarantine", str(held), "--report", str(report),
                                 "--max-removed-share", "0.1"])
    assert result.exit_code == 0, result.output
    summary = json.loads(report.read_text())
    assert summary["n_kept_ratings"] + summary["n_quarantined_ratings"] == len(pd.read_csv(poisoned))
    assert len(pd.read_parquet(kept)) == summary["n_kept_ratings"]
    assert set(pd.read_parquet(held)["user_id"]) == set(summary["flagged_users"])
    assert raw.read_bytes() == raw_before


def test_filter_refuses_an_implausible_share(ml100k_dir: Path, tmp_path: Path) -> None:
    runner = CliRunner()
    raw = ml100k_dir / "ratings.parquet"
    result = runner.invoke(app, ["shilling", "filter", "--ratings", str(raw), "--out", str(tmp_path / "k.csv"),
                                 "--quarantine", str(tmp_path / "q.csv"), "--threshold", "0.0",
                                 "--report", str(tmp_path / "r.json")])
    assert result.exit_code == 1
    assert "more than the plausible" in " ".join(result.output.split())
    assert "Traceback" not in result.output
    assert not (tmp_path / "k.csv").exists()
    assert json.loads((tmp_path / "r.json").read_text())["n_flagged_users"] == 943


def test_attack_reports_bad_input_cleanly(tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("a,b\n1,2\n")
    result = CliRunner().invoke(app, ["shilling", "attack", "--ratings", str(bad), "--target", "1",
                                      "--out", str(tmp_path / "o.csv")])
    assert result.exit_code == 1
    assert "missing column" in result.output


def test_train_reference_writes_models_that_detect(ml100k_dir: Path, tmp_path: Path) -> None:
    runner = CliRunner()
    raw = ml100k_dir / "ratings.parquet"
    result = runner.invoke(app, ["shilling", "train-reference", "--ratings", str(raw),
                                 "--out-dir", str(tmp_path), "--attacks-per-kind", "1"])
    assert result.exit_code == 0, result.output
    meta = json.loads((tmp_path / "ensemble.json").read_text())
    assert meta["dataset"] == ml100k_dir.name and meta["attacks_per_kind"] == 1
    assert (tmp_path / "supervised.npz").is_file()

    from recsys.shilling.attacks import generate_attack
    from recsys.shilling.detectors import EnsembleDetector

    attack = generate_attack(pd.read_parquet(raw), "random", size=0.05, filler=0.05, targets=300, seed=3)
    flagged = EnsembleDetector(reference=tmp_path / "ensemble").fit(attack.ratings).flagged()
    assert flagged[flagged.index.isin(attack.fake_users)].mean() >= 0.9
