"""Run ``bentoml serve`` as a child process on loopback: start, wait until ready, always stop.

Shared by the service tests and the serving benchmark, which both drive a real server.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def bentoml_serve(
    target: str, env: Mapping[str, str], output: Path, timeout: float = 240.0
) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """Serve ``target`` on 127.0.0.1 (a free port) until ``/readyz`` answers 200.

    Yields the base URL and the process; on exit the whole process group (the BentoML
    workers too) is terminated, then killed if it lingers.

    Raises:
        RuntimeError: the server exited or was not ready within ``timeout`` seconds (the
            message ends with the tail of its ``output``).
    """

    port = free_port()
    with output.open("wb") as sink:
        process = subprocess.Popen(
            [sys.executable, "-m", "bentoml", "serve", target, "--host", "127.0.0.1",
             "--port", str(port)],
            cwd=ROOT, env={**os.environ, **env}, stdout=sink, stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group, so the workers die with it
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + timeout
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"bentoml serve {target} exited ({process.returncode}):\n"
                                   f"{output.read_text(errors='replace')[-3000:]}")
            try:
                if httpx.get(f"{url}/readyz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"bentoml serve {target} not ready in {timeout:.0f} s:\n"
                                   f"{output.read_text(errors='replace')[-3000:]}")
            time.sleep(0.5)
        yield url, process
    finally:
        stop_group(process)


def stop_group(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM ``process``'s whole group (it leads one), SIGKILL if it lingers."""
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(10)
