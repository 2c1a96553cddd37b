"""Where Prefect keeps its state, and which task runner trains the variants.

``configure`` must run before Prefect is imported: Prefect reads its settings from the
environment at import time. It does not import Prefect itself (``flows.launch`` configures,
then imports the pipeline).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

PREFECT_DIR = Path(".movierec/prefect")
#: Environment defaults for ephemeral mode (no server). An explicit value in the
#: environment (e.g. PREFECT_API_URL of a running `prefect server`) wins.
EPHEMERAL_DEFAULTS = {
    # the temporary API server starts in a subprocess; on a busy machine that takes longer
    # than Prefect's 20 s default
    "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "240",
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    "PREFECT_LOGGING_TO_API_BATCH_INTERVAL": "0.5",
}


def configure(home: str | Path | None = None) -> Path:
    """Point ``PREFECT_HOME`` (database, results, cache records) at a project-local folder.

    Returns:
        The Prefect home in use.
    """
    chosen = Path(home or os.environ.get("PREFECT_HOME") or PREFECT_DIR).resolve()
    chosen.mkdir(parents=True, exist_ok=True)
    os.environ["PREFECT_HOME"] = str(chosen)
    os.environ.setdefault("PREFECT_RESULTS_LOCAL_STORAGE_PATH", str(chosen / "storage"))
    for key, value in EPHEMERAL_DEFAULTS.items():
        os.environ.setdefault(key, value)
    return chosen


def task_runner(kind: str = "local", *, address: str | None = None, workers: int = 2) -> Any:
    """The task runner that trains variants in parallel.

    Args:
        kind: ``local`` (threads in this process) or ``dask`` (prefect-dask's
            ``DaskTaskRunner``, refusing tables and arrays as task arguments:
            ``flows.dask_runner``).
        address: for ``dask``, the scheduler address of an existing cluster; ``None``
            starts a local cluster of ``workers`` single-threaded workers.
        workers: parallel tasks.
    """
    if kind == "local":
        from prefect.task_runners import ThreadPoolTaskRunner

        return ThreadPoolTaskRunner(max_workers=max(1, workers))
    if kind == "dask":
        from flows.dask_runner import paths_only_runner

        return paths_only_runner(address, cluster_kwargs={
            "n_workers": max(1, workers), "threads_per_worker": 1, "processes": False,
            "dashboard_address": None,
        })
    raise ValueError(f"unknown runner {kind!r}; choose local or dask")
