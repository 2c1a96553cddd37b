"""The whole pipeline, as a user runs it (``movierec run`` in a subprocess), on a real Dask
cluster of separate processes on loopback (one ``dask scheduler``, two ``dask worker``):
the same registered model and metrics as the local runner, data exchanged as paths (the
workers' ledger sees no table in any task's arguments or result), variants spread over both
workers, a worker killed mid-run whose task finishes elsewhere, and clear, fast errors for a
wrong address and for workers that cannot see the shared storage.

The runs report to the session's Prefect test server (``PREFECT_API_URL``, as in team
mode), so no run pays for a temporary server's start.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from dask_processes import Cluster, WorkerKiller, started

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
MOVIEREC = str(Path(sys.executable).with_name("movierec"))
MODELS = "popularity,item_knn,ease"
RUN_TIMEOUT = 900
#: A wrong address must end the run in seconds: the CLI's own start is most of it (about
#: 7 s on the loaded 2-core machine for any argument error).
FAIL_FAST_SECONDS = 60.0
REGISTERED = "movie-recommender-ml-100k"


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    """One scheduler and two workers for the module (a test that kills a worker starts
    another before it ends)."""
    with started(tmp_path_factory.mktemp("dask-cluster"), 2) as running:
        yield running


@pytest.fixture(scope="module")
def api_url(prefect_server: None) -> str:
    from prefect.settings import PREFECT_API_URL

    return str(PREFECT_API_URL.value())


def _project(folder: Path) -> Path:
    """A project folder with the repository's ``params.yaml`` (shilling filter on)."""
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copy(ROOT / "params.yaml", folder / "params.yaml")
    return folder


def _run(folder: Path, api_url: str, mirror: Path, *extra: str,
         timeout: float = RUN_TIMEOUT) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "MLFLOW_"))}
    env.update(PREFECT_API_URL=api_url, PYTHONPATH=str(ROOT))
    return subprocess.run(
        [MOVIEREC, "run", "--skip-package", "--source", str(mirror / "ml-100k"),
         "--models", MODELS, *extra],
        cwd=folder, env=env, capture_output=True, text=True, timeout=timeout)


def _registered(folder: Path) -> dict[str, str]:
    """The tags of the run's registered version (the only one of a fresh folder)."""
    from mlflow.tracking import MlflowClient

    uri = f"sqlite:///{folder / 'mlflow.db'}"
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    versions = client.search_model_versions(f"name = '{REGISTERED}'")
    assert len(versions) == 1, [v.version for v in versions]
    assert client.get_model_version_by_alias(REGISTERED, "champion").version == versions[0].version
    return dict(versions[0].tags or {})


def _identity(tags: dict[str, str]) -> dict[str, str]:
    """What must match between runners: the variant, its configuration, the model's hash,
    the logged manifest's model files (not ``model.json``/``metrics.json``, which hold
    timings, nor MLflow's wrapper files, which hold run ids), every metric but the timings,
    the evaluation data and the promotion decision."""
    import json

    kept = {k: v for k, v in tags.items()
            if k in ("variant", "model_config", "model_hash", "artifacts.model_path",
                     "evaluation_key", "data_hash", "dataset", "promotion.decision")
            or (k.startswith("metric.") and not k.endswith("_seconds"))}
    folder = tags["artifacts.model_path"].rstrip("/") + "/"
    manifest = json.loads(tags["artifacts.manifest"])
    kept.update({f"manifest:{path}": digest for path, digest in manifest.items()
                 if path.startswith(folder)
                 and path.rsplit("/", 1)[-1] not in ("model.json", "metrics.json")})
    assert any(k.startswith("manifest:") for k in kept), manifest
    return kept


def _leaderboard(folder: Path) -> pd.DataFrame:
    board = pd.read_csv(folder / "reports/evaluation/ml-100k/leaderboard.csv")
    return board.drop(columns=[c for c in board.columns if c.endswith("_seconds")])


def _trials(folder: Path) -> pd.DataFrame:
    return pd.read_csv(folder / "reports/evaluation/ml-100k/trials.csv").drop(columns="seconds")


def _model_identities(folder: Path) -> dict[str, str]:
    from recsys.tracking.artifacts import model_identity

    return {d.name: model_identity(d) for d in sorted((folder / "models/ml-100k").iterdir())}


@pytest.fixture(scope="module")
def local_run(tmp_path_factory: pytest.TempPathFactory, api_url: str, mirror: Path) -> Path:
    """The reference: the same command with the local runner, in its own folder."""
    folder = _project(tmp_path_factory.mktemp("local-run"))
    done = _run(folder, api_url, mirror)
    assert done.returncode == 0, done.stdout + done.stderr
    return folder


def _finished_training(cluster: Cluster) -> list[dict[str, Any]]:
    return [r for r in cluster.ledger() if r["event"] == "finished" and r["task"] == "train_variant"]


def test_the_pipeline_on_the_cluster_registers_the_local_model(
    cluster: Cluster, local_run: Path, api_url: str, mirror: Path, tmp_path: Path,
) -> None:
    cluster.clear_ledger()
    folder = _project(tmp_path / "dask-run")
    done = _run(folder, api_url, mirror, "--runner", "dask", "--dask-address", cluster.address)
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"Dask cluster at {cluster.address}: 2 worker(s)" in done.stderr  # rich console

    registered, reference = _registered(folder), _registered(local_run)
    assert "model_hash" in registered and "metric.ndcg_at_10" in registered
    assert _identity(registered) == _identity(reference)
    pd.testing.assert_frame_equal(_leaderboard(folder), _leaderboard(local_run), rtol=1e-12)
    assert _model_identities(folder) == _model_identities(local_run)

    ledger = cluster.ledger()
    trained = _finished_training(cluster)
    # every variant trained on the cluster, spread over both worker processes
    assert len(trained) == len(MODELS.split(",")), ledger
    assert len({r["worker"] for r in trained}) == 2, trained
    # paths only: no table or array went to a worker or came back, in any task
    assert ledger and all(not r.get("shipped_in") and not r.get("shipped_out") for r in ledger)
    for record in trained:
        assert set(record["parameters"].values()) <= {"str", "dict", "int"}, record
    # the shipped search (item_knn's neighbours) ran as trial tasks on the cluster and chose
    # what the local runner chose, from the same validation scores
    trials = [r for r in ledger if r["event"] == "finished" and r["task"] == "trial_task"]
    assert len(trials) == 3, ledger
    pd.testing.assert_frame_equal(_trials(folder), _trials(local_run), rtol=1e-12)
    assert _leaderboard(folder).set_index("variant")["trials"].to_dict() == {
        "popularity": 0, "item_knn": 3, "ease": 0}
    # the models were written in the project's folder, by absolute path
    assert sorted(p.name for p in (folder / "models/ml-100k").iterdir()) == sorted(
        MODELS.split(","))


def test_a_worker_killed_mid_run_still_registers_the_same_model(
    cluster: Cluster, local_run: Path, api_url: str, mirror: Path, tmp_path: Path,
) -> None:
    cluster.clear_ledger()
    folder = _project(tmp_path / "killed-run")
    try:
        with WorkerKiller(cluster.address, "train_variant") as killer:
            done = _run(folder, api_url, mirror, "--runner", "dask", "--dask-address",
                        cluster.address)
        assert killer.killed, "no worker was seen training"
        assert done.returncode == 0, done.stdout + done.stderr
        dead = [p for p in cluster.workers if p.pid == killer.killed["pid"]]
        assert dead and dead[0].poll() is not None
        # the killed worker's task was finished by the other one
        finished = {r["key"]: r for r in _finished_training(cluster)}
        for key in killer.killed["keys"]:
            assert key in finished and finished[key]["pid"] != killer.killed["pid"], finished
        assert _identity(_registered(folder)) == _identity(_registered(local_run))
    finally:
        cluster.add_workers(2 - cluster.live_workers())


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.parametrize("address", ["tcp://127.0.0.1:{port}", "tcp://127.0.0.1"])
def test_a_wrong_address_fails_fast_naming_it(address: str, api_url: str, mirror: Path,
                                              tmp_path: Path) -> None:
    address = address.format(port=_free_port())
    folder = _project(tmp_path / "wrong")
    start = time.monotonic()
    done = _run(folder, api_url, mirror, "--runner", "dask", "--dask-address", address,
                timeout=FAIL_FAST_SECONDS * 2)
    elapsed = time.monotonic() - start
    assert done.returncode == 1
    assert address in done.stderr + done.stdout
    assert elapsed < FAIL_FAST_SECONDS, elapsed
    assert not (folder / "data").exists()  # nothing ran


def test_a_scheduler_without_workers_is_named(tmp_path: Path) -> None:
    from flows.dask_cluster import ClusterError, check_cluster

    with started(tmp_path / "lonely", 0) as lonely, \
            pytest.raises(ClusterError, match=f"{lonely.address} has no workers"):
        check_cluster(lonely.address, [tmp_path], worker_timeout=2)


def test_workers_that_cannot_see_the_shared_storage_fail_the_run_clearly(
    api_url: str, mirror: Path, tmp_path: Path,
) -> None:
    """A worker in its own mount namespace, with an empty tmpfs over the project's parent
    folder: the same path, another disk."""
    if shutil.which("unshare") is None or subprocess.run(
            ["unshare", "--mount", "true"], capture_output=True).returncode != 0:
        pytest.skip("needs unshare --mount (root) to give a worker its own filesystem view")
    shared = tmp_path / "shared"
    folder = _project(shared / "project")
    with started(tmp_path / "blind-cluster", 0) as blind:
        blind.add_workers(1, prefix=["unshare", "--mount", "--propagation", "private", "sh",
                                     "-c", f'mount -t tmpfs tmpfs "{shared}" && exec "$0" "$@"'])
        start = time.monotonic()
        done = _run(folder, api_url, mirror, "--runner", "dask", "--dask-address",
                    blind.address, timeout=FAIL_FAST_SECONDS * 2)
        elapsed = time.monotonic() - start
    output = done.stderr + done.stdout
    assert done.returncode == 1, output
    assert f"the Dask cluster at {blind.address} cannot run this pipeline" in output
    assert "shared-storage check" in output and "FileNotFoundError" in output
    assert str((folder / "models/ml-100k").resolve()) in output
    assert elapsed < FAIL_FAST_SECONDS, elapsed
    assert not list(folder.glob("data/interim/ml-100k/.movierec-storage-probe-*"))


def test_a_table_as_a_task_argument_is_refused(prefect_server: None, cluster: Cluster) -> None:
    """The runner refuses a table; the ledger (the test's witness) would have seen it."""
    from prefect import flow, task
    from prefect_dask import DaskTaskRunner

    from flows.dask_cluster import ShippedDataError
    from flows.runtime import task_runner

    @task
    def count(table: pd.DataFrame) -> int:
        return len(table)

    @flow
    def send(table: pd.DataFrame) -> int:
        return int(count.submit(table).result())

    table = pd.DataFrame({"user_id": range(100), "item_id": range(100)})
    with pytest.raises(ShippedDataError, match=r"parameters\['table'\]: a pandas DataFrame"):
        send.with_options(task_runner=task_runner("dask", address=cluster.address))(table)
    # the same task through prefect-dask's own runner reaches a worker with the table in it
    cluster.clear_ledger()
    assert send.with_options(task_runner=DaskTaskRunner(address=cluster.address))(table) == 100
    shipped = [r for r in cluster.ledger() if r["task"] == "count" and r.get("shipped_in")]
    assert shipped and "DataFrame" in shipped[0]["shipped_in"][0]

