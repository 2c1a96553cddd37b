"""``load_serve_config``: which dataset's champion the service serves."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from recsys.serving.config import DATASET_ENV, load_serve_config


@pytest.fixture()
def params(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.delenv(DATASET_ENV, raising=False)
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump({"data": {"dataset": "ml-latest-small"},
                                    "serve": {"model_name": "recs"}}))
    return path


def test_the_params_dataset_by_default(params: Path) -> None:
    config, data = load_serve_config(params)
    assert config.model_name == "recs-ml-latest-small"
    assert data["dataset"] == "ml-latest-small"


def test_the_environment_then_the_argument_override_it(
        params: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(DATASET_ENV, "synth-1000k")
    config, data = load_serve_config(params)
    assert (config.model_name, data["dataset"]) == ("recs-synth-1000k", "synth-1000k")
    # a built Bento passes the dataset it was built for: that wins
    config, data = load_serve_config(params, "synth-25000k")
    assert (config.model_name, data["dataset"]) == ("recs-synth-25000k", "synth-25000k")
