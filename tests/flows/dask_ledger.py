"""A ``dask worker --preload`` for the Dask tests: a ledger of what each worker ran.

For every task a worker executes it appends one JSON line to ``ledger-<pid>.jsonl`` in the
worker's working directory: the worker, the Prefect task's name, the types of its
parameters, and every table or array found in its arguments or in its result (Prefect's
state, with the returned value inside). It sees what really reached the worker process
after unpickling, independently of the code that submitted it.
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from distributed.diagnostics.plugin import WorkerPlugin

#: Arrays at least this large count as shipped data (a few floats are not).
ARRAY_BYTES = 64 * 1024


def _heavy(value: Any, where: str, found: list[str], depth: int = 0) -> None:
    import numpy as np
    import pandas as pd
    import scipy.sparse as sp

    if depth > 12 or value is None or isinstance(value, str | bytes | int | float | bool):
        return
    if isinstance(value, pd.DataFrame | pd.Series | pd.Index):
        found.append(f"{where}: {type(value).__name__} {value.shape}")
        return
    if isinstance(value, np.ndarray) and value.nbytes >= ARRAY_BYTES:
        found.append(f"{where}: ndarray {value.shape}")
        return
    if sp.issparse(value):
        found.append(f"{where}: sparse {value.shape}")
        return
    children: list[tuple[str, Any]] = []
    if type(value).__name__ == "DataNode" and hasattr(value, "value"):
        children = [("", value.value)]
    elif hasattr(value, "args") and hasattr(value, "kwargs") and hasattr(value, "func"):
        children = [(f"[{i}]", a) for i, a in enumerate(value.args)]
        children += [(f"[{k!r}]", v) for k, v in value.kwargs.items()]
    elif isinstance(value, Mapping):
        children = [(f"[{k!r}]", v) for k, v in value.items()]
    elif isinstance(value, list | tuple | set | frozenset):
        children = [(f"[{i}]", v) for i, v in enumerate(value)]
    elif dataclasses.is_dataclass(value) and not isinstance(value, type):
        children = [(f".{f.name}", getattr(value, f.name)) for f in dataclasses.fields(value)]
    elif hasattr(type(value), "model_fields"):  # pydantic: a config, a Prefect state
        children = [(f".{name}", getattr(value, name, None)) for name in type(value).model_fields]
    for key, child in children:
        _heavy(child, f"{where}{key}", found, depth + 1)


def _parameters(run_spec: Any) -> Any:
    kwargs = getattr(run_spec, "kwargs", {}) or {}
    parameters = kwargs.get("parameters")
    return getattr(parameters, "value", parameters)


def _task_name(run_spec: Any) -> str:
    kwargs = getattr(run_spec, "kwargs", {}) or {}
    task = kwargs.get("task")
    task = getattr(task, "value", task)
    return str(getattr(task, "name", getattr(getattr(run_spec, "func", None), "__name__", "?")))


class Ledger(WorkerPlugin):
    name = "movierec-ledger"

    def setup(self, worker: Any) -> None:
        self.worker = worker
        self.file = Path.cwd() / f"ledger-{os.getpid()}.jsonl"
        self.running: dict[str, dict[str, Any]] = {}

    def _write(self, record: dict[str, Any]) -> None:
        with self.file.open("a") as out:
            out.write(json.dumps(record, default=str) + "\n")

    def transition(self, key: Any, start: str, finish: str, **kwargs: Any) -> None:
        task = self.worker.state.tasks.get(key)
        if finish == "executing" and task is not None:
            spec = task.run_spec
            found: list[str] = []
            _heavy(spec, "arguments", found)
            parameters = _parameters(spec)
            self.running[str(key)] = {
                "key": str(key), "worker": self.worker.address, "pid": os.getpid(),
                "task": _task_name(spec),
                "parameters": ({name: type(value).__name__ for name, value in parameters.items()}
                               if isinstance(parameters, Mapping) else None),
                "shipped_in": found,
            }
            self._write({**self.running[str(key)], "event": "started"})
        elif finish == "memory" and str(key) in self.running:
            found = []
            _heavy(self.worker.data.get(key), "result", found)
            record = self.running.pop(str(key))
            self._write({**record, "event": "finished", "shipped_out": found,
                         "result": type(self.worker.data.get(key)).__name__})


def dask_setup(worker: Any) -> None:
    """The preload hook: install the ledger on this worker."""
    plugin = Ledger()
    plugin.setup(worker)
    worker.plugins[plugin.name] = plugin
