"""A Dask cluster of separate processes on loopback for the tests: ``dask scheduler`` and
``dask worker`` processes (no nanny: a killed worker stays dead), each worker preloading
the task ledger (``dask_ledger.py``); torn down by :meth:`Cluster.stop`."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

DASK = str(Path(sys.executable).with_name("dask"))
LEDGER = Path(__file__).with_name("dask_ledger.py")
START_TIMEOUT = 120.0


class Cluster:
    """A scheduler and workers as separate processes in ``folder`` (their working
    directory: logs, the scheduler file and the workers' ledgers)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.folder.mkdir(parents=True, exist_ok=True)
        self.file = folder / "scheduler.json"
        self.address = ""
        self.procs: list[subprocess.Popen[bytes]] = []
        self.workers: list[subprocess.Popen[bytes]] = []

    def _spawn(self, args: Sequence[str], prefix: Sequence[str] = ()) -> subprocess.Popen[bytes]:
        log = (self.folder / f"proc-{len(self.procs)}.log").open("wb")
        proc = subprocess.Popen([*prefix, DASK, *args], cwd=self.folder, stdout=log,
                                stderr=log, start_new_session=True)
        self.procs.append(proc)
        return proc

    def start(self, n_workers: int) -> str:
        """Start the scheduler and ``n_workers`` single-threaded workers; the address."""
        self._spawn(["scheduler", "--host", "127.0.0.1", "--port", "0", "--no-dashboard",
                     "--scheduler-file", str(self.file)])
        deadline = time.monotonic() + START_TIMEOUT
        while not self.file.is_file():
            assert time.monotonic() < deadline, "dask scheduler did not start"
            time.sleep(0.5)
        time.sleep(0.2)  # the file is written in one go, but give it a moment
        self.address = str(json.loads(self.file.read_text())["address"])
        self.add_workers(n_workers)
        return self.address

    def add_workers(self, n: int, prefix: Sequence[str] = ()) -> None:
        """Start ``n`` more workers (``prefix``: a command that runs the worker, e.g. in
        another mount namespace) and wait until the scheduler counts them."""
        from distributed import Client

        if n <= 0:
            return
        with Client(self.address, timeout=START_TIMEOUT) as client:
            expected = len(client.scheduler_info()["workers"]) + n
        for _ in range(n):
            self.workers.append(self._spawn(
                ["worker", self.address, "--nthreads", "1", "--no-nanny", "--no-dashboard",
                 "--host", "127.0.0.1", "--memory-limit", "0", "--preload", str(LEDGER)],
                prefix))
        with Client(self.address, timeout=START_TIMEOUT) as client:
            client.wait_for_workers(expected, timeout=START_TIMEOUT)

    def live_workers(self) -> int:
        from distributed import Client

        with Client(self.address, timeout=START_TIMEOUT) as client:
            return len(client.scheduler_info()["workers"])

    def ledger(self) -> list[dict[str, Any]]:
        """Every record the workers' ledgers hold, in file order per worker."""
        records = []
        for file in sorted(self.folder.glob("ledger-*.jsonl")):
            records += [json.loads(line) for line in file.read_text().splitlines() if line]
        return records

    def clear_ledger(self) -> None:
        for file in self.folder.glob("ledger-*.jsonl"):
            file.write_text("")

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


@contextlib.contextmanager
def started(folder: Path, n_workers: int) -> Iterator[Cluster]:
    """A cluster of ``n_workers`` workers in ``folder``, stopped on the way out."""
    cluster = Cluster(folder)
    try:
        cluster.start(n_workers)
        yield cluster
    finally:
        cluster.stop()


class WorkerKiller:
    """Kills (SIGKILL) the first worker seen processing a task whose key contains
    ``key_part``, from a thread, within ``timeout`` seconds."""

    def __init__(self, address: str, key_part: str, timeout: float = 300.0) -> None:
        self.address, self.key_part, self.timeout = address, key_part, timeout
        self.killed: dict[str, Any] = {}
        self.thread = threading.Thread(target=self._watch, daemon=True)

    def __enter__(self) -> WorkerKiller:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.thread.join(timeout=self.timeout + 10)

    def _watch(self) -> None:
        from distributed import Client

        with Client(self.address, timeout=START_TIMEOUT) as client:
            deadline = time.monotonic() + self.timeout
            while time.monotonic() < deadline and not self.killed:
                for worker, keys in client.processing().items():
                    wanted = [str(k) for k in keys if self.key_part in str(k)]
                    if wanted:
                        pid = client.run(os.getpid, workers=[worker])[worker]
                        os.kill(pid, signal.SIGKILL)
                        self.killed = {"worker": worker, "pid": pid, "keys": wanted}
                        return
                time.sleep(0.1)
