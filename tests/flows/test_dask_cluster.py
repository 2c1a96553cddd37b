"""The train step on a real multi-process Dask cluster (``dask scheduler`` + two ``dask
worker`` processes on loopback): same models and metrics as the local runner, data passed as
paths on shared storage, and a worker killed mid-run has its task finished by the other."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from flows.stages.train import SplitPaths, Training, train
from recsys.params import params_model

pytestmark = pytest.mark.integration

DASK = str(Path(sys.executable).with_name("dask"))
MODELS = ["popularity", "item_knn", "ease"]
START_TIMEOUT = 120.0


class Cluster:
    """A scheduler and workers as separate processes, torn down at the end."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.file = folder / "scheduler.json"
        self.procs: list[subprocess.Popen[bytes]] = []
        self.workers: list[subprocess.Popen[bytes]] = []

    def _spawn(self, *args: str) -> subprocess.Popen[bytes]:
        log = (self.folder / f"proc-{len(self.procs)}.log").open("wb")
        proc = subprocess.Popen([DASK, *args], cwd=self.folder, stdout=log, stderr=log,
                                start_new_session=True)
        self.procs.append(proc)
        return proc

    def start(self, n_workers: int) -> str:
        self._spawn("scheduler", "--host", "127.0.0.1", "--port", "0", "--no-dashboard",
                    "--scheduler-file", str(self.file))
        deadline = time.monotonic() + START_TIMEOUT
        while not self.file.is_file():
            assert time.monotonic() < deadline, "dask scheduler did not start"
            time.sleep(0.5)
        address = str(json.loads(self.file.read_text())["address"])
        for _ in range(n_workers):
            self.workers.append(self._spawn(
                # no nanny: a killed worker stays dead, so its task must go elsewhere
                "worker", address, "--nthreads", "1", "--no-nanny", "--no-dashboard",
                "--host", "127.0.0.1", "--memory-limit", "0"))
        from distributed import Client

        with Client(address, timeout=START_TIMEOUT) as client:
            client.wait_for_workers(n_workers, timeout=START_TIMEOUT)
        return address

    def stop(self) -> None:
        for proc in reversed(self.procs):
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        for proc in self.procs:
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()


@pytest.fixture()
def cluster(tmp_path: Path) -> Iterator[Cluster]:
    running = Cluster(tmp_path)
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture()
def split_paths(tmp_path: Path, ml100k: tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]
                ) -> dict[str, str]:
    from recsys.evaluation.splits import split_ratings

    ratings, items, _ = ml100k
    split = split_ratings(ratings[ratings["user_id"] <= 300], seed=5)
    paths = {"train": str(tmp_path / "train.parquet"), "test": str(tmp_path / "test.parquet"),
             "items": str(tmp_path / "items.parquet")}
    split.train.to_parquet(paths["train"], index=False)
    split.test.to_parquet(paths["test"], index=False)
    items.to_parquet(paths["items"], index=False)
    return paths


def _train(runner: Any, paths: dict[str, str], models_dir: Path) -> Training:
    config = params_model().model_validate({"train": {
        "models": list(MODELS), "parallelism": 2,
        "item_knn": {"neighbours": 20}, "ease": {"regularization": 200.0}}}).train
    out: Training = train.with_options(task_runner=runner)(
        config, SplitPaths(paths["train"], paths["test"]), paths["items"], str(models_dir),
        10, 3)
    return out


def _metrics(out: Training) -> dict[str, float]:
    return {r.variant: r.metrics["ndcg_at_10"] for r in out.results}


def test_cluster_of_processes_gives_the_local_models_and_metrics(
    prefect_server: None, cluster: Cluster, split_paths: dict[str, str], tmp_path: Path,
) -> None:
    from flows.runtime import task_runner

    address = cluster.start(2)
    local = _train(task_runner("local", workers=2), split_paths, tmp_path / "local")
    remote = _train(task_runner("dask", address=address), split_paths, tmp_path / "dask")
    assert remote.failed == {} and local.failed == {}
    assert _metrics(remote) == pytest.approx(_metrics(local), abs=1e-12)
    for result in remote.results:
        saved = Path(result.model_dir)
        assert (saved / "model.json").is_file() and saved.is_relative_to(tmp_path / "dask")
    # the variants fanned out over both worker processes
    from distributed import Client

    with Client(address) as client:
        ran = client.run(lambda dask_worker: dask_worker.state.transition_counter)
    assert len(ran) == 2 and all(count > 0 for count in ran.values()), ran


def test_a_killed_worker_has_its_task_retried_elsewhere(
    prefect_server: None, cluster: Cluster, split_paths: dict[str, str], tmp_path: Path,
) -> None:
    from distributed import Client

    from flows.runtime import task_runner

    address = cluster.start(2)
    killed: dict[str, int] = {}

    def kill_a_busy_worker() -> None:
        with Client(address) as client:
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline and not killed:
                busy = [w for w, keys in client.processing().items() if keys]
                if busy:
                    pid = client.run(os.getpid, workers=[busy[0]])[busy[0]]
                    os.kill(pid, signal.SIGKILL)
                    killed[busy[0]] = pid
                time.sleep(0.2)

    import threading

    killer = threading.Thread(target=kill_a_busy_worker, daemon=True)
    killer.start()
    out = _train(task_runner("dask", address=address), split_paths, tmp_path / "dask")
    killer.join(timeout=130)
    assert killed, "no worker was busy"
    pid = next(iter(killed.values()))
    assert any(p.pid == pid and p.poll() is not None for p in cluster.workers)
    assert out.failed == {}
    assert sorted(r.variant for r in out.results) == sorted(MODELS)
