"""One strict configuration: every command refuses a bad ``params.yaml`` before any work,
with one line naming the file and the key path."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from movierec.cli import app
from recsys.params import ParamsError, RegisterConfig, default_metric, load, parse

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = yaml.safe_load((ROOT / "params.yaml").read_text())

#: (what to change in the shipped file, the key path the error must name, and what it says)
BAD_PARAMS: list[tuple[str, dict[str, Any], str, str]] = [
    ("top-level typo", {"evalute": {"k": 10}}, "evalute", "unknown key"),
    ("section key typo", {"evaluate": {"sed": 1}}, "evaluate.sed", "unknown key"),
    ("register typo", {"register": {"min_improvment": 0.01}}, "register.min_improvment",
     "unknown key"),
    ("models not a list", {"train": {"models": 5}}, "train.models", "expected a list"),
    ("margin not a number", {"register": {"min_improvement": "lots"}},
     "register.min_improvement", "valid number"),
    ("negative parallelism", {"train": {"parallelism": -3}}, "train.parallelism",
     "greater than or equal to 1"),
    ("unknown model", {"train": {"models": ["ease", "eas"]}}, "train.models", "'eas'"),
    ("misspelled model parameter", {"train": {"ease": {"regularizaton": 300}}},
     "train.ease.regularizaton", "unknown key"),
    ("unknown model section", {"train": {"ncf2": {"epochs": 3}}}, "train.ncf2", "unknown key"),
    ("bad filter value", {"filter": {"threshold": 2}}, "filter.threshold", "less than or equal"),
    ("unknown detector", {"filter": {"detector": "ensembel"}}, "filter.detector", "'ensembel'"),
    ("metric k does not compute", {"evaluate": {"k": 20}, "register": {"metric": "ndcg_at_10"}},
     "register.metric", "k=20"),
    ("serve typo", {"serve": {"prot": 3001}}, "serve.prot", "unknown key"),
    ("monitor typo", {"monitor": {"cooldown_hour": 1}}, "monitor.cooldown_hour", "unknown key"),
    ("bad profile", {"profiles": {"large": {"train": {"parallelism": 0}}}},
     "profiles.large.train.parallelism", "greater than or equal to 1"),
]


def _merged(change: dict[str, Any]) -> dict[str, Any]:
    document = {name: dict(value) if isinstance(value, dict) else value
                for name, value in SHIPPED.items()}
    for name, value in change.items():
        if isinstance(value, dict) and isinstance(document.get(name), dict):
            document[name] = {**document[name], **value}
        else:
            document[name] = value
    return document


def _write(folder: Path, change: dict[str, Any]) -> Path:
    path = folder / "params.yaml"
    path.write_text(yaml.safe_dump(_merged(change)))
    return path


@pytest.mark.parametrize(("change", "where", "says"),
                         [case[1:] for case in BAD_PARAMS], ids=[case[0] for case in BAD_PARAMS])
def test_run_refuses_bad_params_before_any_work(
    change: dict[str, Any], where: str, says: str, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    params = _write(tmp_path, change)
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(app, ["run", "--params", str(params)])
    assert result.exit_code == 1, result.output
    assert isinstance(result.exception, SystemExit)  # a clean exit, not a traceback
    assert f"{params}: " in result.output and f"{where}: " in result.output, result.output
    assert says in result.output, result.output
    assert "Traceback" not in result.output
    # nothing ran: no Prefect state, no data, no MLflow store
    assert sorted(p.name for p in tmp_path.iterdir()) == ["params.yaml"]


@pytest.mark.parametrize("command", [
    ["validate", "--write-suites", "--suites-dir", "suites"],
    ["shilling", "filter", "--ratings", "r.csv", "--out", "o.csv", "--quarantine", "q.csv"],
])
def test_other_commands_refuse_bad_params(command: list[str], tmp_path: Path,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    params = _write(tmp_path, {"register": {"min_improvment": 0.01}})
    (tmp_path / "r.csv").write_text("user_id,item_id,rating,timestamp\n1,1,4,1\n")
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(app, [*command, "--params", str(params)])
    assert result.exit_code == 1, result.output
    assert "register.min_improvment: unknown key" in result.output
    assert not (tmp_path / "suites").exists() and not (tmp_path / "o.csv").exists()


def test_the_real_cli_prints_one_line_and_no_traceback(tmp_path: Path) -> None:
    params = _write(tmp_path, {"evalute": {"k": 10}})
    done = subprocess.run([str(ROOT / ".venv" / "bin" / "movierec"), "run", "--params",
                           str(params)], cwd=tmp_path, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 1
    assert done.stderr.strip().splitlines() == [f"error: {params}: evalute: unknown key"]


def test_library_readers_of_one_section_see_the_whole_file(tmp_path: Path) -> None:
    """``MonitorConfig.from_params`` and the service's loader go through the same tree: a
    typo in another section is not ignored."""
    from recsys.monitoring.drift import MonitorConfig
    from recsys.validation.suites import ValidateConfig

    params = _write(tmp_path, {"evaluate": {"sed": 1}})
    for read in (MonitorConfig.from_params, ValidateConfig.from_params):
        with pytest.raises(ParamsError, match="evaluate.sed: unknown key"):
            read(params)


def test_every_shipped_parameter_file_parses() -> None:
    """Every YAML parameter document in the repository (and each of its profiles)."""
    listed = subprocess.run(["git", "ls-files", "*.yaml", "*.yml"], cwd=ROOT, check=True,
                            capture_output=True, text=True).stdout.split()
    non_params = {"dvc.yaml", "dvc.lock", "bentofile.yaml"}
    files = [ROOT / f for f in listed if Path(f).name not in non_params]
    assert ROOT / "params.yaml" in files
    for path in files:
        document = yaml.safe_load(path.read_text())
        params = load(path)
        for profile in document.get("profiles") or {}:
            load(path, profile)
        assert params.train.models, path


def test_shipped_params_are_what_the_pipeline_ran_before() -> None:
    params = load(ROOT / "params.yaml")
    assert params.section("train")["ease"] == SHIPPED["train"]["ease"]
    assert params.section("evaluate") == SHIPPED["evaluate"]
    assert params.section("filter") == SHIPPED["filter"]
    assert params.register_.metric == "ndcg_at_10"
    assert params.serve.model_name == params.register_.model_name == "movie-recommender"


def test_the_metric_default_is_defined_once() -> None:
    assert parse({"evaluate": {"k": 5}}).register_.metric == "ndcg_at_5" == default_metric(5)
    assert RegisterConfig().metric_for(20) == "ndcg_at_20"
    assert parse({"register": {"metric": "recall_at_10"}}).register_.metric == "recall_at_10"


def test_the_served_model_is_the_registered_one_unless_set() -> None:
    assert parse({"register": {"model_name": "mine"}}).serve.model_name == "mine"
    assert parse({"register": {"model_name": "mine"},
                  "serve": {"model_name": "theirs"}}).serve.model_name == "theirs"


def test_a_profile_is_merged_over_the_top_level(tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    params = _write(tmp_path, {"profiles": {"large": {
        "data": {"dataset": "ml-1m"}, "train": {"parallelism": 1, "ease": {"dropout": 0.2}}}}})
    base, large = load(params), load(params, "large")
    assert base.data.dataset == "ml-100k" and large.data.dataset == "ml-1m"
    assert large.train.parallelism == 1 and large.train.models == base.train.models
    ease = large.section("train")["ease"]
    assert ease["dropout"] == 0.2 and ease["regularization"] == SHIPPED["train"]["ease"][
        "regularization"]
    monkeypatch.setenv("MOVIEREC_PROFILE", "large")
    assert load(params).data.dataset == "ml-1m"


def test_an_unknown_profile_is_an_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    params = _write(tmp_path, {"profiles": {"large": {"train": {"parallelism": 1}}}})
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(app, ["run", "--params", str(params), "--profile", "larg"])
    assert result.exit_code == 1
    assert "unknown profile 'larg' (profiles: large)" in result.output
    with pytest.raises(ParamsError, match="unknown profile"):
        load(params, "small")
