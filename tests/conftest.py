"""Shared fixtures: real MovieLens from ``../shared/data`` (or $MOVIEREC_DATA_MIRROR), tiny frames."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[1]
MIRROR = Path(os.environ.get("MOVIEREC_DATA_MIRROR", ROOT.parent / "shared" / "data"))
_OWN_BENTOML_HOME: Path | None = None


def pytest_configure(config: pytest.Config) -> None:
    """Keep BentoML's store out of ~/bentoml (serving tests and the pipeline's package step
    build Bentos): a temp BENTOML_HOME before bentoml is used."""
    global _OWN_BENTOML_HOME
    if "BENTOML_HOME" not in os.environ:
        _OWN_BENTOML_HOME = Path(tempfile.mkdtemp(prefix="movierec-bentoml-"))
        os.environ["BENTOML_HOME"] = str(_OWN_BENTOML_HOME)
    # Prefect binds its console log handler to sys.stderr when its API is first used
    # (prefect.main configures logging); first used inside a CliRunner.invoke, it would
    # keep writing to the runner's stream, closed once that test ends, and every later
    # flow run in the session would fail to log
    import prefect.main  # noqa: F401


def pytest_unconfigure(config: pytest.Config) -> None:
    if _OWN_BENTOML_HOME is not None:
        shutil.rmtree(_OWN_BENTOML_HOME, ignore_errors=True)


@pytest.fixture(scope="session")
def mirror() -> Path:
    if not (MIRROR / "ml-100k" / "u.data").is_file():
        pytest.skip(f"no MovieLens mirror at {MIRROR}")
    return MIRROR


@pytest.fixture(scope="session")
def ml100k_dir(tmp_path_factory: pytest.TempPathFactory, mirror: Path) -> Path:
    """Prepared ML-100K tables (ratings/items/users Parquet) in a session temp folder."""
    from recsys.data.fetch import fetch
    from recsys.data.prepare import prepare

    root = tmp_path_factory.mktemp("ml100k")
    fetch("ml-100k", cache_dir=root / "raw", source=mirror)
    prepare("ml-100k", raw_dir=root / "raw", out_dir=root / "processed")
    return root / "processed" / "ml-100k"


@pytest.fixture(scope="session")
def ml100k(ml100k_dir: Path) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """(ratings, items, users) of ML-100K."""
    return tuple(  # type: ignore[return-value]
        pd.read_parquet(ml100k_dir / f"{n}.parquet") for n in ("ratings", "items", "users")
    )


@pytest.fixture(scope="session")
def streaming_dir(mirror: Path) -> Path:
    """The streaming-availability tables of the mirror (read-only)."""
    folder = mirror / "streaming"
    if not (folder / "movies-on-streaming-platforms").is_dir():
        pytest.skip(f"no streaming tables at {folder}")
    return folder


@pytest.fixture(autouse=True)
def _mlflow_environment() -> Iterator[None]:
    """Each test leaves MLflow's environment variables as it found them:
    ``mlflow.set_tracking_uri`` writes ``MLFLOW_TRACKING_URI`` into ``os.environ``, so a
    pipeline run in process would otherwise point every later test at its store."""
    names = ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI")
    before = {name: os.environ.get(name) for name in names}
    yield
    for name, value in before.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value
