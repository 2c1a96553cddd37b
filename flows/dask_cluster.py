"""Running the pipeline's tasks on an existing Dask cluster: the check before any work, and
what must never travel to a worker.

A task on a cluster reads its inputs and writes its outputs by path (the Parquet split,
the items table, a model folder, Prefect's persisted results), so every worker must see the
driver's files at the same absolute paths: shared storage. :func:`check_cluster` proves
that before a run starts (a wrong address, a cluster without workers, workers that cannot
import this project or cannot see the shared folders each fail in seconds with a message
naming the address, the workers and the folders), instead of a connection timeout or a
``FileNotFoundError`` deep in a task minutes later. :func:`shipped_data` finds the tables
and arrays in a task's arguments, which ``flows.dask_runner`` refuses to submit: on a
cluster they would be pickled through the scheduler to a worker, which is what the shared
storage is there to avoid.

No Prefect here: the CLI checks the cluster before Prefect's temporary server starts.
"""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp
from pydantic import BaseModel

#: Seconds to reach the scheduler: a wrong or unreachable address fails after this.
CONNECT_TIMEOUT = 10.0
#: Seconds to wait for a first worker on a reachable scheduler.
WORKER_TIMEOUT = 20.0
#: Arrays below this size may travel as arguments (a few floats of a config, a curve).
ARRAY_BYTES_LIMIT = 1 << 20
PROBE_PREFIX = ".movierec-storage-probe-"


class ClusterError(RuntimeError):
    """The Dask cluster at ``--dask-address`` cannot run this pipeline (message says why)."""


class ShippedDataError(TypeError):
    """A task for the cluster was given data (a table, an array) instead of a path."""


@dataclass(frozen=True)
class ClusterInfo:
    """A checked cluster: its scheduler address and the workers that passed the check."""

    address: str
    workers: tuple[str, ...]


def run_folders(dataset: str, processed_dir: str | Path,
                results_dir: str | Path | None) -> list[Path]:
    """The folders a run's cluster tasks read or write (absolute): the prepared tables, the
    dataset's interim data (the split), its models and Prefect's result storage."""
    folders = [Path(processed_dir), Path("data/interim") / dataset, Path("models") / dataset]
    if results_dir:
        folders.append(Path(results_dir))
    return [folder.resolve() for folder in folders]


def _reachable(address: str, timeout: float) -> None:
    """Fail at once on a malformed address or a port nobody listens on (Dask's client
    would retry until its timeout before saying so)."""
    from distributed.comm.addressing import get_address_host_port, parse_address

    try:
        scheme, _ = parse_address(address)
        host, port = get_address_host_port(address)
    except ValueError as exc:
        raise ClusterError(f"--dask-address {address!r} is not a scheduler address "
                           f"(tcp://HOST:PORT): {exc}") from None
    if not host or not port:
        raise ClusterError(f"--dask-address {address!r} is not a scheduler address "
                           "(tcp://HOST:PORT): it lacks a host or a port")
    if scheme not in ("tcp", "tls"):
        return
    try:
        socket.create_connection((host, port), timeout=timeout).close()
    except OSError as exc:
        raise ClusterError(f"cannot reach the Dask scheduler at {address} "
                           f"({exc.strerror or exc}); is `dask scheduler` running there, and "
                           "is --dask-address right?") from None


def probe_folders(folders: list[str], name: str, token: str) -> dict[str, str]:
    """Run on a worker: for each folder, why this process cannot use it as shared storage
    (the driver's probe file ``name`` is missing or holds something else, or the folder is
    not writable); a folder that works is left out."""
    problems: dict[str, str] = {}
    for folder in folders:
        probe = Path(folder) / name
        try:
            if probe.read_text() != token:
                problems[folder] = f"{probe.name} holds another run's token (a different disk)"
                continue
            reply = Path(folder) / f"{name}-{os.getpid()}"
            reply.write_text(token)
            reply.unlink()
        except OSError as exc:
            problems[folder] = f"{type(exc).__name__}: {exc.strerror or exc}"
    return problems


def _describe_problems(address: str, answers: Mapping[str, Any], n_folders: int) -> str:
    lines = []
    for worker, answer in sorted(answers.items()):
        if isinstance(answer, BaseException):
            lines.append(f"  {worker}: cannot run movierec's code ({type(answer).__name__}: "
                         f"{answer}); install this project in the workers' environment")
        else:
            lines += [f"  {worker}: {folder}: {why}" for folder, why in sorted(answer.items())]
    return (f"the Dask cluster at {address} cannot run this pipeline: {len(answers)} "
            f"worker(s) fail the shared-storage check of {n_folders} folder(s):\n"
            + "\n".join(lines)
            + "\nEvery worker must see the driver's project folder at the same absolute path "
              "(a shared filesystem, or a volume/bucket mounted there) and run the same "
              "environment.")


def check_cluster(address: str, folders: Iterable[str | Path], *,
                  timeout: float = CONNECT_TIMEOUT,
                  worker_timeout: float = WORKER_TIMEOUT) -> ClusterInfo:
    """Check that the cluster at ``address`` can run the pipeline's tasks: the scheduler
    answers within ``timeout`` seconds, a worker joins within ``worker_timeout``, and every
    worker runs this project's code and reads and writes every folder of ``folders`` at the
    same path as this process (shown by a probe file written here).

    Raises:
        ClusterError: naming the address, and the workers and folders that fail.
    """
    from distributed import Client

    _reachable(address, timeout)
    paths = [Path(folder).resolve() for folder in folders]
    try:
        client = Client(address, timeout=timeout, set_as_default=False)
    except (OSError, TimeoutError) as exc:
        raise ClusterError(f"cannot reach the Dask scheduler at {address} within {timeout:g} s "
                           f"({exc}); is `dask scheduler` running there, and is "
                           "--dask-address right?") from None
    with client:
        try:
            client.wait_for_workers(1, timeout=worker_timeout)
        except TimeoutError:
            raise ClusterError(f"the Dask scheduler at {address} has no workers (none joined "
                               f"within {worker_timeout:g} s); start `dask worker {address}`"
                               ) from None
        token = uuid.uuid4().hex
        name = f"{PROBE_PREFIX}{token}"
        with _probe_files(paths, name, token):
            answers = client.run(probe_folders, [str(p) for p in paths], name, token,
                                 on_error="return")
        failing = {worker: answer for worker, answer in answers.items()
                   if isinstance(answer, BaseException) or answer}
        if failing:
            raise ClusterError(_describe_problems(address, failing, len(paths)))
        return ClusterInfo(address, tuple(sorted(answers)))


class _ProbeFiles:
    def __init__(self, folders: list[Path], name: str, token: str) -> None:
        self.files = [folder / name for folder in folders]
        self.token = token

    def __enter__(self) -> None:
        for file in self.files:
            file.parent.mkdir(parents=True, exist_ok=True)
            file.write_text(self.token)

    def __exit__(self, *exc: object) -> None:
        for file in self.files:
            file.unlink(missing_ok=True)


def _probe_files(folders: list[Path], name: str, token: str) -> _ProbeFiles:
    return _ProbeFiles(folders, name, token)


def _children(value: Any) -> Iterator[tuple[str, Any]]:
    if isinstance(value, Mapping):
        yield from ((f"[{key!r}]", item) for key, item in value.items())
    elif isinstance(value, list | tuple | set | frozenset):
        yield from ((f"[{i}]", item) for i, item in enumerate(value))
    elif isinstance(value, BaseModel):
        yield from ((f".{name}", getattr(value, name)) for name in type(value).model_fields)
    elif hasattr(value, "__dataclass_fields__") and not isinstance(value, type):
        yield from ((f".{name}", getattr(value, name)) for name in value.__dataclass_fields__)


def shipped_data(value: Any, where: str = "", depth: int = 0) -> list[str]:
    """The tables and arrays inside ``value`` (nested mappings, sequences, dataclasses and
    pydantic models), each as ``where: what``; arrays under ``ARRAY_BYTES_LIMIT`` pass."""
    if isinstance(value, pd.DataFrame | pd.Series):
        shape = " x ".join(f"{n:,}" for n in value.shape)
        return [f"{where or 'value'}: a pandas {type(value).__name__} ({shape})"]
    if isinstance(value, np.ndarray) and value.nbytes >= ARRAY_BYTES_LIMIT:
        return [f"{where or 'value'}: a numpy array {value.shape} ({value.nbytes:,} bytes)"]
    if sp.issparse(value) and getattr(value, "nnz", 0) * 12 >= ARRAY_BYTES_LIMIT:
        return [f"{where or 'value'}: a sparse matrix {value.shape}"]
    if depth > 8:
        return []
    found: list[str] = []
    for key, item in _children(value):
        found += shipped_data(item, f"{where}{key}", depth + 1)
    return found
