"""Fixtures for the flow tests: a real Prefect test server, a project folder, one pipeline run.

Runs use the real ML-100K (validation checks its size) with two cheap variants, the
shilling filter off, and the embedded MLflow store of a temp project folder.
"""

from __future__ import annotations

import os
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
                                 InFolder=InFolder, MODELS=MODELS)


def cached_task_runs() -> int:
    """How many task runs the Prefect server recorded as ``Cached``."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import TaskRunFilter, TaskRunFilterStateName

    with get_client(sync_client=True) as client:
        runs = client.read_task_runs(task_run_filter=TaskRunFilter(
            state=dict(name=TaskRunFilterStateName(any_=["Cached"]))), limit=200)
    return len(runs)

