"""One pipeline run at a time per project folder: a lock on the state folder ``.movierec/``.

Two runs side by side share ``models/<dataset>/``, the MLflow store and Prefect's
database: one run's metrics ended up on the other's model. ``run_lock`` holds an exclusive
``flock`` on ``.movierec/run.lock`` for the whole run and writes its holder (pid, start
time, command) into it, so a second run is refused with a message naming the first (or,
with ``wait``, waits for it).

The kernel releases a ``flock`` when its process dies, however it dies (kill -9
included): a lock left by a dead process is simply taken over, and the dead holder is
reported. It does not import Prefect.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

STATE_DIR = Path(".movierec")
LOCK_FILE = "run.lock"


class RunLockedError(RuntimeError):
    """Another live run holds the project's lock."""


@dataclass(frozen=True)
class LockHolder:
    pid: int
    started: str
    command: str

    def describe(self) -> str:
        return f"pid {self.pid}, started {self.started}, command: {self.command}"


def pid_alive(pid: int) -> bool:
    """True when a process ``pid`` exists (a zombie counts as dead)."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return stat.rsplit(")", 1)[-1].split()[0] != "Z"


def _read_holder(fh: IO[str]) -> LockHolder | None:
    fh.seek(0)
    try:
        data: dict[str, Any] = json.loads(fh.read() or "null") or {}
        return LockHolder(int(data["pid"]), str(data["started"]), str(data["command"]))
    except (ValueError, KeyError, TypeError):
        return None


@contextlib.contextmanager
def run_lock(state_dir: str | Path = STATE_DIR, *, wait: bool = False,
             command: str | None = None, notify: Any = None) -> Iterator[LockHolder]:
    """Hold the project's run lock for the ``with`` block.

    Args:
        state_dir: the project's state folder (created when missing).
        wait: wait for a running holder instead of failing.
        command: what to record as the holder's command (default: this process's argv).
        notify: called with a message when waiting or when taking over a dead run's lock.

    Raises:
        RunLockedError: another live process holds the lock and ``wait`` is false; the
            message names it.
    """
    folder = Path(state_dir)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / LOCK_FILE
    say = notify or (lambda message: None)
    with path.open("a+") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _read_holder(fh)
            who = holder.describe() if holder else "an unknown process"
            if not wait:
                raise RunLockedError(
                    f"another run holds {path} ({who}): wait for it to finish, or rerun with "
                    "--wait to queue behind it") from None
            say(f"waiting for the run holding {path} ({who})")
            fcntl.flock(fh, fcntl.LOCK_EX)
        previous = _read_holder(fh)
        if previous and previous.pid != os.getpid() and not pid_alive(previous.pid):
            say(f"took over the lock of a run that died ({previous.describe()})")
        me = LockHolder(os.getpid(), time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                        command or " ".join([Path(sys.argv[0]).name, *sys.argv[1:]]))
        fh.seek(0)
        fh.truncate()
        fh.write(json.dumps(me.__dict__))
        fh.flush()
        try:
            yield me
        finally:
            fh.seek(0)
            fh.truncate()
            fh.flush()
            fcntl.flock(fh, fcntl.LOCK_UN)
