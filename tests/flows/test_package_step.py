"""The pipeline's package step: the given registry version, under the given ``params.yaml``."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
import yaml

pytestmark = pytest.mark.integration


def test_package_captures_the_given_version_and_leaves_the_environment(
    prefect_server: None, small_tables: dict[str, Any], mlflow_store: Path, tmp_path: Path,
    helpers: Any, monkeypatch: pytest.MonkeyPatch,
) -> None:
    import bentoml

    from flows.stages.package import package
    from recsys.tracking.registry import registered_name

    uri, base = helpers.store_uri(mlflow_store), "package-step-version"
    name = registered_name(base, "ml-100k")  # what the service serves for data.dataset
    items = small_tables["items"]
    monkeypatch.delenv("MOVIEREC_MODEL_DIR", raising=False)
    with helpers.InFolder(mlflow_store):
        for variant in ("popularity", "ease"):  # v1, then v2 takes champion
            logged = helpers.fit_and_log(variant, {}, small_tables["a"], items, mlflow_store, uri)
            helpers.register_logged(logged, "split-a", uri, name)
    params = tmp_path / "params.yaml"
    params.write_text(yaml.safe_dump({"serve": {"model_name": base, "items": items}}))
    # the caller's environment names another store: the step must use `uri`, then leave
    # the environment as it found it
    elsewhere = f"sqlite:///{tmp_path / 'elsewhere.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", elsewhere)
    monkeypatch.delenv("MLFLOW_REGISTRY_URI", raising=False)
    with helpers.InFolder(tmp_path):
        out = package("1", uri, str(params), items, "ml-100k")
    assert out.bento is not None
    [model] = bentoml.get(out.bento).info.models
    stored = bentoml.models.get(model.tag)
    assert str(model.tag).split(":")[0] == name
    assert stored.info.metadata["version"] == "1"
    assert stored.info.metadata["variant"] == "popularity"
    assert stored.info.metadata["source"] == f"models:/{name}/1"
    assert os.environ["MLFLOW_TRACKING_URI"] == elsewhere
    assert "MLFLOW_REGISTRY_URI" not in os.environ

    # the same inputs reuse the cached build; once that Bento is deleted, it is rebuilt
    with helpers.InFolder(tmp_path):
        assert package("1", uri, str(params), items, "ml-100k").bento == out.bento
        bentoml.delete(out.bento)
        again = package("1", uri, str(params), items, "ml-100k")
    assert again.bento is not None
    [rebuilt] = bentoml.get(again.bento).info.models
    assert bentoml.models.get(rebuilt.tag).info.metadata["version"] == "1"


def test_package_captures_the_run_datasets_model_not_the_params_one(
    prefect_server: None, small_tables: dict[str, Any], mlflow_store: Path, tmp_path: Path,
    helpers: Any, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """`movierec run --dataset NAME` packages NAME's champion, though params.yaml's
    data.dataset names another (the default ml-100k here), and labels the Bento with NAME."""
    import bentoml

    from flows.stages.package import package
    from recsys.tracking.registry import registered_name

    uri, base = helpers.store_uri(mlflow_store), "package-step-dataset"
    name = registered_name(base, "synth-pkg")
    items = small_tables["items"]
    monkeypatch.delenv("MOVIEREC_MODEL_DIR", raising=False)
    monkeypatch.delenv("MOVIEREC_DATASET", raising=False)
    with helpers.InFolder(mlflow_store):
        logged = helpers.fit_and_log("popularity", {}, small_tables["a"], items, mlflow_store, uri)
        helpers.register_logged(logged, "split-a", uri, name)
    params = tmp_path / "params.yaml"
    params.write_text(yaml.safe_dump({"serve": {"model_name": base, "items": items}}))
    with helpers.InFolder(tmp_path):
        out = package("1", uri, str(params), items, "synth-pkg")
    assert out.bento is not None
    bento = bentoml.get(out.bento)
    [model] = bento.info.models
    assert str(model.tag).split(":")[0] == name
    assert bentoml.models.get(model.tag).info.metadata["source"] == f"models:/{name}/1"
    assert bento.info.labels["dataset"] == "synth-pkg"
