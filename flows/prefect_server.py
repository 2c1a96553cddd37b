"""Prefect's temporary API server for one ``movierec run``: started, recorded, always stopped.

In ephemeral mode Prefect starts a uvicorn subprocess (about 240 MB, listening on a port)
and stops it from ``atexit``, which never runs on SIGTERM or kill -9: killed runs left the
servers behind, and their flow runs stayed ``RUNNING``. Here:

* the server is started before the flow (Prefect's engine then reuses it) in its own
  session, so a terminal's Ctrl-C reaches the run, which stops the server after the flow
  has recorded its end, instead of killing the server under a flow still reporting to it;
* its pid and port, with the owning run's pid, go to ``<PREFECT_HOME>/ephemeral-server.json``;
* SIGTERM and SIGINT end the run through Python (the flow run is marked crashed, ``finally``
  blocks run) and the server is stopped on the way out; a second Ctrl-C stops the server
  and exits at once;
* on the next start, a recorded server whose owner is dead, and any temporary server of
  the same Prefect home whose parent is gone, is killed, and flow runs left ``RUNNING`` or
  ``PENDING`` are marked ``Crashed`` (the caller holds ``flows.run_lock``, so no other run
  of this folder is alive).

Call :func:`ephemeral_server` only after ``flows.runtime.configure``.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from flows.run_lock import pid_alive

RECORD_FILE = "ephemeral-server.json"
#: How a temporary server shows in its command line.
SERVER_MARK = "prefect.server.api.server:create_app"
STOP_TIMEOUT = 10.0


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def _environ(pid: int) -> dict[str, str]:
    try:
        raw = Path(f"/proc/{pid}/environ").read_bytes()
    except OSError:
        return {}
    pairs = (item.split(b"=", 1) for item in raw.split(b"\0") if b"=" in item)
    return {k.decode(errors="replace"): v.decode(errors="replace") for k, v in pairs}


def _parent(pid: int) -> int:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0
    return int(stat.rsplit(")", 1)[-1].split()[1])


def kill_server(pid: int, timeout: float = STOP_TIMEOUT) -> bool:
    """Stop server ``pid`` (SIGTERM, then SIGKILL after ``timeout``); True when it is gone."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            return True
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, os.WNOHANG)  # reap it when it is our child
            if not pid_alive(pid):
                return True
            time.sleep(0.1)
    return not pid_alive(pid)


def orphan_servers(home: Path) -> list[int]:
    """Temporary servers of Prefect home ``home`` whose starting run is gone: the recorded
    one when its owner is dead, and any whose parent died (re-parented away from it)."""
    home = home.resolve()
    found: set[int] = set()
    record = home / RECORD_FILE
    with contextlib.suppress(OSError, ValueError, KeyError, TypeError):
        data = json.loads(record.read_text())
        pid, owner = int(data["server_pid"]), int(data["owner_pid"])
        if not pid_alive(owner) and pid_alive(pid) and SERVER_MARK in _cmdline(pid):
            found.add(pid)
    proc = Path("/proc")
    if proc.is_dir():
        for entry in proc.iterdir():
            if not entry.name.isdigit():
                continue
            pid = int(entry.name)
            if SERVER_MARK not in _cmdline(pid) or _environ(pid).get("PREFECT_HOME") != str(home):
                continue
            parent = _parent(pid)
            if parent == 1 or not pid_alive(parent) or "python" not in _cmdline(parent):
                found.add(pid)
    found.discard(os.getpid())
    return sorted(found)


def reap(home: Path, notify: Callable[[str], None] | None = None) -> list[int]:
    """Kill the orphaned temporary servers of ``home``; their pids."""
    killed = []
    for pid in orphan_servers(home):
        if kill_server(pid):
            killed.append(pid)
            if notify:
                notify(f"stopped an orphaned Prefect server (pid {pid}) left by a killed run")
    (home / RECORD_FILE).unlink(missing_ok=True)
    return killed


def mark_stale_runs_crashed() -> int:
    """Set flow runs still ``RUNNING``/``PENDING`` to ``Crashed``; how many (call with the
    run lock held and before the new flow starts)."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import (
        FlowRunFilter,
        FlowRunFilterState,
        FlowRunFilterStateType,
    )
    from prefect.client.schemas.objects import StateType
    from prefect.states import Crashed

    with get_client(sync_client=True) as client:
        runs = client.read_flow_runs(flow_run_filter=FlowRunFilter(state=FlowRunFilterState(
            type=FlowRunFilterStateType(any_=[StateType.RUNNING, StateType.PENDING]))), limit=200)
        for run in runs:
            client.set_flow_run_state(run.id, Crashed(
                message="the process running it died (found by the next movierec run)"),
                force=True)
    return len(runs)


def _own_session_server() -> Any:
    """Prefect's singleton temporary server, its process started in a session of its own."""
    from prefect.server.api import server as prefect_server

    class OwnSessionServer(prefect_server.SubprocessASGIServer):  # type: ignore[misc]
        def _run_uvicorn_command(self) -> subprocess.Popen[Any]:
            module = prefect_server.subprocess
            original = module.Popen
            setattr(module, "Popen", functools.partial(original, start_new_session=True))  # noqa: B010
            try:
                return super()._run_uvicorn_command()  # type: ignore[no-any-return]
            finally:
                setattr(module, "Popen", original)  # noqa: B010

    prefect_server.SubprocessASGIServer._instances.pop(None, None)
    return OwnSessionServer()


@contextlib.contextmanager
def ephemeral_server(home: Path, notify: Callable[[str], None] | None = None) -> Iterator[Any]:
    """Reap orphans, start and record the temporary server, stop it on every way out.

    Yields the server (``None`` when ``PREFECT_API_URL`` names a real server: nothing to
    start or stop).
    """
    say = notify or (lambda message: None)
    reap(home, say)
    if os.environ.get("PREFECT_API_URL"):
        yield None
        return
    server = _own_session_server()
    record = home / RECORD_FILE

    def stop() -> None:
        process = server.server_process
        if process is not None:
            # send the logs still queued for the API first: once the server is gone, Prefect
            # would report "Error logging to API" for them at exit
            with contextlib.suppress(Exception):
                from prefect.logging.handlers import APILogWorker

                APILogWorker.drain_all(timeout=5)
            kill_server(process.pid, timeout=5.0)
            with contextlib.suppress(Exception):
                server.stop()
        record.unlink(missing_ok=True)

    interrupts = 0

    def on_signal(signum: int, frame: Any) -> None:
        nonlocal interrupts
        interrupts += 1
        if interrupts > 1:  # asked twice: stop now, without waiting for the flow
            stop()
            os._exit(128 + signum)
        if signum == signal.SIGTERM:
            raise SystemExit(128 + signum)
        raise KeyboardInterrupt

    # handlers first: a signal while the server starts must still stop it
    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        server.start()
        record.write_text(json.dumps({
            "server_pid": server.server_process.pid, "port": server.port,
            "owner_pid": os.getpid(), "started": time.strftime("%Y-%m-%dT%H:%M:%S%z")}))
        stale = mark_stale_runs_crashed()
        if stale:
            say(f"marked {stale} flow run(s) left running by a killed run as crashed")
        yield server
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        stop()
