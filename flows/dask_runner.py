"""prefect-dask's task runner, refusing to send data to the cluster.

Imported only by ``flows.runtime.task_runner``, after ``flows.runtime.configure``: Prefect
reads its settings on import.
"""

from __future__ import annotations

from typing import Any

from prefect_dask import DaskTaskRunner

from flows.dask_cluster import CONNECT_TIMEOUT, ShippedDataError, shipped_data


class PathsOnlyDaskTaskRunner(DaskTaskRunner):  # type: ignore[misc]
    """A ``DaskTaskRunner`` whose ``submit`` raises :class:`ShippedDataError` when a task's
    arguments hold a table or an array (``flows.dask_cluster.shipped_data``): cluster tasks
    take paths on shared storage."""

    def submit(self, task: Any, parameters: dict[str, Any], *args: Any, **kwargs: Any) -> Any:
        found = shipped_data(parameters)
        if found:
            raise ShippedDataError(
                f"task {task.name!r} would send data through the Dask scheduler: "
                + "; ".join(f"parameters{what}" for what in found)
                + ". Cluster tasks take paths on shared storage (Parquet files, model "
                  "folders), never tables.")
        return super().submit(task, parameters, *args, **kwargs)


def paths_only_runner(address: str | None,
                      cluster_kwargs: dict[str, Any] | None = None) -> PathsOnlyDaskTaskRunner:
    """The runner on the scheduler at ``address`` (connecting within
    ``CONNECT_TIMEOUT``), or on a local cluster of ``cluster_kwargs``."""
    if address:
        return PathsOnlyDaskTaskRunner(address=address, client_kwargs={"timeout": CONNECT_TIMEOUT})
    return PathsOnlyDaskTaskRunner(cluster_kwargs=cluster_kwargs)
