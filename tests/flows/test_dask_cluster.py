"""The train step on a real multi-process Dask cluster (``dask scheduler`` + two ``dask
worker`` processes on loopback): same models and metrics as the local runner, data passed as
paths on shared storage, and a worker killed mid-run has its task finished by the other."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from dask_processes import Cluster, WorkerKiller, started

from flows.stages.train import SplitPaths, Training, train
from recsys.params import params_model

pytestmark = pytest.mark.integration

MODELS = ["popularity", "item_knn", "ease"]


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    """One scheduler and two workers for the module (a test that kills a worker starts
    another before it ends)."""
    with started(tmp_path_factory.mktemp("dask-cluster"), 2) as running:
        yield running


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

    cluster.clear_ledger()
    local = _train(task_runner("local", workers=2), split_paths, tmp_path / "local")
    remote = _train(task_runner("dask", address=cluster.address), split_paths, tmp_path / "dask")
    assert remote.failed == {} and local.failed == {}
    assert _metrics(remote) == pytest.approx(_metrics(local), abs=1e-12)
    for result in remote.results:
        saved = Path(result.model_dir)
        assert (saved / "model.json").is_file() and saved.is_relative_to(tmp_path / "dask")
    # the variants fanned out over both worker processes
    finished = [r for r in cluster.ledger() if r["event"] == "finished"]
    assert sorted(r["task"] for r in finished) == sorted(["train_variant"] * len(MODELS))
    assert len({r["worker"] for r in finished}) == 2, finished


def test_a_killed_worker_has_its_task_retried_elsewhere(
    prefect_server: None, cluster: Cluster, split_paths: dict[str, str], tmp_path: Path,
) -> None:
    from flows.runtime import task_runner

    try:
        with WorkerKiller(cluster.address, "train_variant", timeout=120) as killer:
            out = _train(task_runner("dask", address=cluster.address), split_paths,
                         tmp_path / "dask")
        assert killer.killed, "no worker was busy"
        pid = killer.killed["pid"]
        assert any(p.pid == pid and p.poll() is not None for p in cluster.workers)
        assert out.failed == {}
        assert sorted(r.variant for r in out.results) == sorted(MODELS)
    finally:
        cluster.add_workers(2 - cluster.live_workers())


def test_trials_of_one_variant_fan_out_over_the_workers_and_choose_as_locally(
    prefect_server: None, cluster: Cluster, split_paths: dict[str, str], tmp_path: Path,
) -> None:
    """Four trials of one variant, submitted together, run on both worker processes (the
    workers' ledger), with paths only; the trial scores and the choice equal the local
    runner's, each computed for real (the local run refreshes the cache)."""
    from prefect.settings import PREFECT_TASKS_REFRESH_CACHE, temporary_settings

    from flows.runtime import task_runner

    config = params_model().model_validate({"train": {
        "models": ["ials"], "parallelism": 2, "ials": {"iterations": 3},
        "search": {"seed": 11, "variants": {"ials": {
            "grid": {"factors": [12, 24], "regularization": [2.0, 15.0]}}}}}}).train

    def run(runner: Any, folder: Path) -> Training:
        out: Training = train.with_options(task_runner=runner)(
            config, SplitPaths(split_paths["train"], split_paths["test"]), split_paths["items"],
            str(folder), 10, 3)
        return out

    cluster.clear_ledger()
    remote = run(task_runner("dask", address=cluster.address), tmp_path / "dask")
    ledger = cluster.ledger()
    with temporary_settings(updates={PREFECT_TASKS_REFRESH_CACHE: True}):
        local = run(task_runner("local", workers=2), tmp_path / "local")

    trials = [r for r in ledger if r["event"] == "finished" and r["task"] == "trial_task"]
    assert len(trials) == 4, ledger
    assert len({r["worker"] for r in trials}) == 2, trials
    assert all(not r.get("shipped_in") and not r.get("shipped_out") for r in ledger), ledger
    assert [r["task"] for r in ledger if r["event"] == "finished"].count("train_variant") == 1

    assert remote.failed == {} == local.failed
    (searched_remote,), (searched_local,) = remote.results, local.results
    assert searched_remote.search is not None and searched_local.search is not None
    assert searched_remote.trials == 4
    pd.testing.assert_frame_equal(searched_remote.search.table().drop(columns=["seconds"]),
                                  searched_local.search.table().drop(columns=["seconds"]))
    assert searched_remote.params == searched_local.params == searched_local.search.chosen.params
    assert searched_remote.metrics["ndcg_at_10"] == pytest.approx(
        searched_local.metrics["ndcg_at_10"], abs=1e-12)
