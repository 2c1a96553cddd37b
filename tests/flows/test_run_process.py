"""``movierec run`` as real processes: one run per folder (a lock), and no Prefect server
left behind by SIGTERM, Ctrl-C or kill -9 (bounded in time; loopback only)."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
MOVIEREC = str(Path(sys.executable).with_name("movierec"))
START_TIMEOUT = 300.0
EXIT_TIMEOUT = 90.0

HOLDER = textwrap.dedent("""
    import sys, time
    from flows.run_lock import run_lock
    with run_lock(".movierec", command="holder-command --sleep"):
        print("locked", flush=True)
        time.sleep(float(sys.argv[1]))
    print("released", time.time(), flush=True)
""")


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "MLFLOW_"))}
    env["PYTHONPATH"] = str(ROOT)
    return env


@pytest.fixture()
def folder(tmp_path: Path) -> Path:
    """A project folder whose run trains one cheap variant without the shilling filter."""
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    params["filter"]["enabled"] = False
    params["train"]["models"] = ["popularity"]
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    return tmp_path


def _holder(folder: Path, seconds: float) -> subprocess.Popen[str]:
    proc = subprocess.Popen([sys.executable, "-c", HOLDER, str(seconds)], cwd=folder, env=_env(),
                            stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None and proc.stdout.readline().strip() == "locked"
    return proc


def _alive(pid: int) -> bool:
    from flows.run_lock import pid_alive

    return pid_alive(pid)


def _listening(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(1.0)
        return sock.connect_ex(("127.0.0.1", port)) == 0


@pytest.fixture()
def runs() -> Iterator[list[subprocess.Popen[str]]]:
    """Processes a test starts; any still running at the end is killed (with its group)."""
    started: list[subprocess.Popen[str]] = []
    yield started
    for proc in started:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def _start_run(folder: Path, mirror: Path, runs: list[subprocess.Popen[str]],
               *extra: str) -> subprocess.Popen[str]:
    proc = subprocess.Popen([MOVIEREC, "run", "--skip-package", "--source", str(mirror), *extra],
                            cwd=folder, env=_env(), stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, start_new_session=True)
    runs.append(proc)
    return proc


def _server_record(folder: Path, proc: subprocess.Popen[str]) -> dict[str, Any]:
    """The temporary server the run recorded, once it is up."""
    record = folder / ".movierec" / "prefect" / "ephemeral-server.json"
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"run exited early ({proc.returncode}):\n{proc.stdout.read()}")  # type: ignore[union-attr]
        try:
            data: dict[str, Any] = json.loads(record.read_text())
        except (OSError, ValueError):
            data = {}
        if data.get("owner_pid") == proc.pid:  # not the record a killed run left
            return data
        time.sleep(0.5)
    raise AssertionError("the run recorded no temporary server")


def _gone(pid: int, timeout: float = 15.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not _alive(pid):
            return True
        time.sleep(0.2)
    return False


def test_a_second_run_is_refused_while_one_holds_the_folder(folder: Path, mirror: Path,
                                                            runs: list[Any]) -> None:
    holder = _holder(folder, 120)
    runs.append(holder)
    started = time.monotonic()
    second = subprocess.run([MOVIEREC, "run", "--skip-package", "--source", str(mirror)],
                            cwd=folder, env=_env(), capture_output=True, text=True, timeout=120)
    assert second.returncode != 0
    assert f"pid {holder.pid}" in second.stderr and "holder-command --sleep" in second.stderr
    assert "--wait" in second.stderr
    assert time.monotonic() - started < 60  # refused at once, before any work
    assert not (folder / "mlflow.db").exists()

    holder.kill()  # kill -9: the kernel drops the flock, the file still names the dead pid
    holder.wait()
    from flows.run_lock import run_lock

    notes: list[str] = []
    before = Path.cwd()
    os.chdir(folder)
    try:
        with run_lock(notify=notes.append) as me:
            assert me.pid == os.getpid()
    finally:
        os.chdir(before)
    assert any(f"pid {holder.pid}" in n and "died" in n for n in notes), notes


def test_wait_queues_behind_the_running_holder(folder: Path, runs: list[Any]) -> None:
    holder = _holder(folder, 3)
    runs.append(holder)
    waiter = subprocess.run(
        [sys.executable, "-c", "import time\nfrom flows.run_lock import run_lock\n"
         "with run_lock('.movierec', wait=True, notify=print):\n    print('got', time.time())"],
        cwd=folder, env=_env(), capture_output=True, text=True, timeout=60)
    out, _ = holder.communicate(timeout=30)
    released = float(out.split("released")[1].split()[0])
    got = float(waiter.stdout.split("got")[1].split()[0])
    assert waiter.returncode == 0 and "waiting for the run holding" in waiter.stdout
    assert f"pid {holder.pid}" in waiter.stdout
    assert got >= released - 0.05


def test_signals_and_kill_leave_no_prefect_server(folder: Path, mirror: Path,
                                                  runs: list[Any]) -> None:
    # SIGTERM: the run ends non-zero and stops its server
    run = _start_run(folder, mirror, runs)
    server = _server_record(folder, run)
    assert _alive(server["server_pid"]) and _listening(server["port"])
    _wait_running(server["port"])
    run.send_signal(signal.SIGTERM)
    run.wait(timeout=EXIT_TIMEOUT)
    assert run.returncode != 0
    assert _gone(server["server_pid"]), "SIGTERM left the Prefect server running"
    assert not _listening(server["port"])

    # Ctrl-C in a terminal: SIGINT to the run's whole process group
    run = _start_run(folder, mirror, runs)
    server = _server_record(folder, run)
    _wait_running(server["port"])
    os.killpg(run.pid, signal.SIGINT)
    run.wait(timeout=EXIT_TIMEOUT)
    assert run.returncode == 130, run.stdout.read() if run.stdout else ""
    assert _gone(server["server_pid"]), "Ctrl-C left the Prefect server running"

    # kill -9: nothing runs in the killed process; the next start reaps what it left
    run = _start_run(folder, mirror, runs)
    orphan = _server_record(folder, run)
    _wait_running(orphan["port"])
    run.kill()
    run.wait()
    assert _alive(orphan["server_pid"]), "expected the orphan kill -9 leaves behind"
    run = _start_run(folder, mirror, runs)
    server = _server_record(folder, run)
    assert server["server_pid"] != orphan["server_pid"]
    assert _gone(orphan["server_pid"]), "the next run did not reap the orphaned server"
    crashed = _flow_run_states(server["port"])
    run.send_signal(signal.SIGTERM)
    run.wait(timeout=EXIT_TIMEOUT)
    assert _gone(server["server_pid"])
    # the killed run's flow run is Crashed; the only RUNNING one is the live run's
    assert list(crashed.values()).count("RUNNING") <= 1, crashed
    assert "CRASHED" in crashed.values(), crashed


def _wait_running(port: int, timeout: float = START_TIMEOUT) -> None:
    """Until the run's flow run is ``RUNNING`` in Prefect's database."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if "RUNNING" in _flow_run_states(port).values():
            return
        time.sleep(0.5)
    raise AssertionError("no flow run reached RUNNING")


def _flow_run_states(port: int) -> dict[str, str]:
    """Pipeline flow runs by id -> state type, read from the live run's Prefect API."""
    import httpx

    response = httpx.post(f"http://127.0.0.1:{port}/api/flow_runs/filter",
                          json={"limit": 50}, timeout=30)
    response.raise_for_status()
    # top-level runs only: a live pipeline also has a RUNNING subflow (ingest, train ...)
    return {r["id"]: r["state_type"] for r in response.json()
            if r["name"] and r.get("parent_task_run_id") is None}
