"""Fixtures for the flow tests: a real Prefect test server, a project folder, one pipeline run.

Runs use the real ML-100K (validation checks its size) with two cheap variants, the
shilling filter off, and the embedded MLflow store of a temp project folder.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
MODELS = ["popularity", "ease"]


@pytest.fixture(scope="session")
def prefect_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """A temporary Prefect API server (its own database) and result storage for the session."""
    from prefect.settings import PREFECT_RESULTS_LOCAL_STORAGE_PATH, temporary_settings
    from prefect.testing.utilities import prefect_test_harness

    storage = tmp_path_factory.mktemp("prefect-storage")
    with prefect_test_harness(server_startup_timeout=300), \
            temporary_settings(updates={PREFECT_RESULTS_LOCAL_STORAGE_PATH: storage}):
        yield


@pytest.fixture(scope="session")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A project folder with a ``params.yaml`` for fast test runs."""
    root = tmp_path_factory.mktemp("project")
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    params["filter"]["enabled"] = False
    params["train"]["models"] = MODELS
    params["train"]["parallelism"] = 2
    (root / "params.yaml").write_text(yaml.safe_dump(params))
    return root


class InFolder:
    """Run code with the working directory set to a folder (the pipeline's paths are relative)."""

    def __init__(self, folder: Path) -> None:
        self.folder, self.before = folder, Path.cwd()

    def __enter__(self) -> Path:
        os.chdir(self.folder)
        return self.folder

    def __exit__(self, *exc: object) -> None:
        os.chdir(self.before)


def run_pipeline(project: Path, mirror: Path, **kwargs: Any) -> Any:
    """Run the ``pipeline`` flow in ``project``; its final state."""
    from flows.pipeline import pipeline

    options: dict[str, Any] = dict(dataset="ml-100k", models=MODELS, params_path="params.yaml",
                                   tracking_uri=f"sqlite:///{project / 'mlflow.db'}",
                                   skip_package=True, source=str(mirror))
    options.update(kwargs)
    with InFolder(project):
        return pipeline(**options, return_state=True)


@pytest.fixture(scope="session")
def first_run(prefect_server: None, project: Path, mirror: Path) -> dict[str, Any]:
    """The pipeline run once on a clean project folder."""
    state = run_pipeline(project, mirror)
    assert state.is_completed(), state.message
    return state.result()


@pytest.fixture()
def helpers() -> Any:
    """The module's helpers, for tests (this folder is not a package: ``flows`` is taken)."""
    import types

    return types.SimpleNamespace(run_pipeline=run_pipeline, cached_task_runs=cached_task_runs,
                                 InFolder=InFolder, MODELS=MODELS, store_uri=store_uri,
                                 fit_and_log=fit_and_log, register_logged=register_logged)


def cached_task_runs() -> int:
    """How many task runs the Prefect server recorded as ``Cached``."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import TaskRunFilter, TaskRunFilterStateName

    with get_client(sync_client=True) as client:
        runs = client.read_task_runs(task_run_filter=TaskRunFilter(
            state=dict(name=TaskRunFilterStateName(any_=["Cached"]))), limit=200)
    return len(runs)



@pytest.fixture(scope="session")
def small_tables(tmp_path_factory: pytest.TempPathFactory,
                 ml100k: tuple[Any, Any, Any]) -> dict[str, Any]:
    """Parquet tables for step tests: the items, and two ms-stratified splits of a ML-100K
    subset, ``a`` (users 1-250) and ``b`` (users 1-300: the same data grown by 50 users)."""
    from recsys.evaluation.splits import split_ratings

    ratings, items, _ = ml100k
    root = tmp_path_factory.mktemp("small-tables")
    items.to_parquet(root / "items.parquet", index=False)
    tables: dict[str, Any] = {"items": str(root / "items.parquet")}
    for name, last_user in (("a", 250), ("b", 300)):
        split = split_ratings(ratings[ratings["user_id"] <= last_user], seed=42)
        paths = {side: str(root / f"{name}-{side}.parquet") for side in ("train", "test")}
        split.train.to_parquet(paths["train"], index=False)
        split.test.to_parquet(paths["test"], index=False)
        tables[name] = paths
    return tables


@pytest.fixture(scope="session")
def mlflow_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder holding one embedded MLflow store (``mlflow.db`` + ``mlartifacts/``), shared
    by the step tests: creating its tables is the slow part. Each test registers its own
    model name, and runs with this folder as working directory (artefacts land here)."""
    return tmp_path_factory.mktemp("mlflow-store")


def store_uri(folder: Path) -> str:
    return f"sqlite:///{folder / 'mlflow.db'}"


def fit_and_log(variant: str, params: dict[str, Any], split: dict[str, str], items_path: str,
                folder: Path, uri: str) -> dict[str, Any]:
    """Fit ``variant`` on ``split``, save it under ``folder`` and log it to MLflow: the
    ``best`` and ``tracked`` dicts the pipeline's register step takes."""
    import pandas as pd

    from recsys.evaluation.evaluate import fit_and_evaluate
    from recsys.tracking.mlflow_runs import VariantResult, log_pipeline

    model, metrics = fit_and_evaluate(variant, params, pd.read_parquet(split["train"]),
                                      pd.read_parquet(split["test"]), pd.read_parquet(items_path),
                                      k=10, seed=1)
    model_dir = str(model.save(tempfile.mkdtemp(prefix=f"{variant}-", dir=folder)))
    tracked = log_pipeline(
        [VariantResult(variant, params, metrics, model_dir)], dataset="ml-100k",
        data_digest="d", commit=None, pipeline_params={}, example_users=[1, 2],
        leaderboard=pd.DataFrame([{"variant": variant, **metrics}]), tracking_uri=uri,
    )
    best = {"variant": variant, "params": params, "metrics": metrics, "model_dir": model_dir}
    return {"best": best, "tracked": {"variants": {
        name: {"run_id": v.run_id, "model_uri": v.model_uri} for name, v in tracked.variants.items()
    }}}


def register_logged(logged: dict[str, Any], evaluation_key: str, uri: str,
                    model_name: str) -> Any:
    """``recsys.tracking.registry.register_best`` on a ``fit_and_log`` result."""
    from recsys.tracking.registry import register_best

    best = logged["best"]
    variant = logged["tracked"]["variants"][best["variant"]]
    return register_best(variant["model_uri"], run_id=variant["run_id"], variant=best["variant"],
                         metrics=best["metrics"], evaluation_key=evaluation_key, data_hash="d",
                         model_dir=best["model_dir"], dataset="ml-100k", tracking_uri=uri,
                         model_name=model_name)
