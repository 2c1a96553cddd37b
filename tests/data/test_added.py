"""``movierec data add``: a folder becomes a dataset that prepare, validate and run accept."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from movierec.cli import app
from recsys.data.added import AddDatasetError, derive_spec
from recsys.data.registry import (
    DATASETS,
    LAYOUT_ML100K,
    DatasetsFileError,
    UnknownDatasetError,
    added_datasets,
    get_spec,
)
from recsys.data.schema import HALF_STARS
from recsys.data.synth import SynthConfig, write_synthetic

pytestmark = pytest.mark.data

runner = CliRunner()


def _flat(text: str) -> str:
    return " ".join(text.split())


@pytest.fixture(scope="module")
def synth_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("synth") / "s50k"
    write_synthetic(out, SynthConfig(n_ratings=50_000, n_users=400, n_items=2_000, seed=5))
    return out


@pytest.fixture()
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty project folder as the working directory (datasets.yaml, data/ and
    expectations/ are relative to it)."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MOVIEREC_DATASETS_FILE", raising=False)
    return tmp_path


def test_add_prepare_validate_with_the_real_commands(project: Path, synth_folder: Path) -> None:
    added = runner.invoke(app, ["data", "add", "synth-50k", "--source", str(synth_folder)])
    assert added.exit_code == 0, added.output
    spec = added_datasets(project / "datasets.yaml")["synth-50k"]
    assert spec.n_ratings == 50_000
    assert spec.scale == HALF_STARS
    truth = pd.read_csv(synth_folder / "ratings.csv")
    assert spec.rating_mean == pytest.approx(truth["rating"].mean(), abs=1e-5)
    assert (spec.first_timestamp, spec.last_timestamp) == (truth["timestamp"].min(),
                                                           truth["timestamp"].max())
    assert set(spec.files) == {"ratings.csv", "movies.csv", "links.csv", "tags.csv", "README.txt"}
    # the suites are derived from the data and written beside the others
    suite = json.loads((project / "expectations" / "synth-50k.ratings.json").read_text())
    counts = [e for e in suite["expectations"] if e["type"] == "expect_table_row_count_to_be_between"]
    assert counts[0]["kwargs"]["min_value"] <= 50_000 <= counts[0]["kwargs"]["max_value"]
    assert (project / "data" / "raw" / "synth-50k" / "ratings.csv").is_file()

    listed = runner.invoke(app, ["data", "list"])
    assert "synth-50k" in listed.output and "ml-32m" in listed.output

    prepared = runner.invoke(app, ["data", "prepare", "--dataset", "synth-50k"])
    assert prepared.exit_code == 0, prepared.output
    tables = project / "data" / "processed" / "synth-50k"
    ratings = pd.read_parquet(tables / "ratings.parquet")
    assert len(ratings) == 50_000
    assert ratings["user_id"].nunique() == 400

    args = ["validate", "--dataset", "synth-50k", "--ratings", str(tables / "ratings.parquet"),
            "--items", str(tables / "items.parquet"), "--users", str(tables / "users.parquet")]
    validated = runner.invoke(app, args)
    assert validated.exit_code == 0, validated.output
    assert "passed" in validated.output

    # the suite is the data's own: a truncated copy fails it
    ratings.iloc[: 40_000].to_parquet(project / "short.parquet", index=False)
    args[args.index("--ratings") + 1] = str(project / "short.parquet")
    short = runner.invoke(app, args)
    assert short.exit_code == 1
    assert "expect_table_row_count_to_be_between" in _flat(short.output)


def test_added_dataset_is_fetched_again_from_its_folder(project: Path, synth_folder: Path) -> None:
    from recsys.data.fetch import fetch

    assert runner.invoke(app, ["data", "add", "mine", "--source", str(synth_folder)]).exit_code == 0
    shutil.rmtree(project / "data" / "raw")
    result = fetch("mine", cache_dir=project / "data" / "raw")
    assert result.source == "local"
    assert result.files == get_spec("mine").files


def test_ml100k_layout_folder(project: Path, mirror: Path) -> None:
    result = runner.invoke(app, ["data", "add", "my-100k", "--source", str(mirror / "ml-100k")])
    assert result.exit_code == 0, result.output
    spec = get_spec("my-100k")
    assert spec.layout == LAYOUT_ML100K
    assert (spec.n_ratings, spec.scale.step) == (100_000, 1.0)
    assert spec.rating_mean == pytest.approx(DATASETS["ml-100k"].rating_mean, abs=1e-5)
    assert runner.invoke(app, ["data", "prepare", "--dataset", "my-100k"]).exit_code == 0
    users = pd.read_parquet(project / "data" / "processed" / "my-100k" / "users.parquet")
    assert len(users) == 943 and "occupation" in users.columns


def test_datasets_file_from_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                        synth_folder: Path) -> None:
    from recsys.data.registry import record_dataset

    path = tmp_path / "elsewhere.yaml"
    monkeypatch.setenv("MOVIEREC_DATASETS_FILE", str(path))
    record_dataset(derive_spec("env-set", synth_folder))
    assert get_spec("env-set").n_ratings == 50_000
    monkeypatch.setenv("MOVIEREC_DATASETS_FILE", str(tmp_path / "none.yaml"))
    with pytest.raises(UnknownDatasetError, match="data add"):
        get_spec("env-set")


@pytest.mark.parametrize(("name", "message"), [
    ("ml-100k", "fixed registry entry"),
    ("Bad Name", "lower-case"),
])
def test_bad_names_are_refused(project: Path, synth_folder: Path, name: str, message: str) -> None:
    result = runner.invoke(app, ["data", "add", name, "--source", str(synth_folder)])
    assert result.exit_code != 0
    assert message in _flat(result.output)
    assert not (project / "datasets.yaml").exists()


def test_folder_that_is_not_a_dataset(project: Path, tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    result = runner.invoke(app, ["data", "add", "nothing", "--source", str(empty)])
    assert result.exit_code != 0
    assert "ratings.csv, movies.csv" in _flat(result.output)
    odd = tmp_path / "odd"
    odd.mkdir()
    (odd / "ratings.csv").write_text("userId,movieId,rating,timestamp\n1,1,3.3,100\n")
    (odd / "movies.csv").write_text("movieId,title,genres\n1,A (1999),Drama\n")
    with pytest.raises(AddDatasetError, match="neither whole nor half"):
        derive_spec("odd", odd)


def test_broken_datasets_file_is_a_clear_error(project: Path) -> None:
    (project / "datasets.yaml").write_text("datasets: [1, 2]\n")
    with pytest.raises(DatasetsFileError, match="mapping"):
        get_spec("anything")
    result = runner.invoke(app, ["data", "list"])
    assert result.exit_code != 0 and "datasets.yaml" in _flat(result.output)
