"""Helpers shared by the command modules: console output and error reporting."""

from __future__ import annotations

import json
import os
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, NoReturn

import typer
from rich.console import Console
from rich.markup import escape

# recsys, flows, bentos (and pandas, httpx) are imported inside the commands: at the top they load
# pandas/scipy/sklearn (~4 s instead of ~0.25 s for `movierec --help`) and Prefect before
# flows.runtime.configure() has set its home

console = Console(stderr=True)


#: Seconds between the "still working" lines of :func:`working` when there is no terminal.
HEARTBEAT_SECONDS = 15.0


@contextmanager
def working(what: str, every: float = HEARTBEAT_SECONDS) -> Iterator[None]:
    """Show that ``what`` is in progress: a spinner on a terminal. Without one (a log file,
    a pipe, CI), where a spinner leaves nothing, a line every ``every`` seconds while it
    runs and one with the time it took; work shorter than ``every`` prints nothing."""
    if console.is_terminal:
        with console.status(what):
            yield
        return
    start = time.perf_counter()
    stop = threading.Event()

    def heartbeat() -> None:
        while not stop.wait(every):
            console.print(f"{escape(what)}: still working ({time.perf_counter() - start:.0f} s)",
                          highlight=False, soft_wrap=True)

    beat = threading.Thread(target=heartbeat, name="movierec-heartbeat", daemon=True)
    beat.start()
    try:
        yield  # an exception propagates: the caller's error line says what went wrong
    finally:
        stop.set()
        beat.join()
    took = time.perf_counter() - start
    if took >= every:
        console.print(f"{escape(what)}: done in {took:.1f} s", highlight=False, soft_wrap=True)


def fail(message: str, code: int = 1) -> NoReturn:
    """Print ``message`` as an error on stderr and exit with ``code``."""
    # the message is text, not markup: paths and GX names like [expect_...] stay as they are
    # one line however long: the terminal wraps it, and a log keeps it whole for grep
    console.print(f"[bold red]error:[/] {escape(message)}", highlight=False, soft_wrap=True)
    raise typer.Exit(code)


@contextmanager
def user_errors(*kinds: type[BaseException]) -> Iterator[None]:
    """Turn expected exceptions (bad input, missing files) into a clean error exit."""
    try:
        yield
    except (OSError, ValueError, KeyError) + kinds as exc:
        fail(error_message(exc))


def error_message(exc: BaseException) -> str:
    """One readable line for ``exc``: an OS error names its file(s) without ``[Errno N]``,
    a ``KeyError`` reads as its message rather than its repr (quotes stay balanced)."""
    if isinstance(exc, OSError) and exc.strerror and exc.filename is not None:
        where = str(exc.filename)
        if exc.filename2 is not None:
            where += f" -> {exc.filename2}"
        return f"{where}: {exc.strerror}"
    if isinstance(exc, UnicodeDecodeError):
        return (f"not UTF-8 text: byte 0x{exc.object[exc.start]:02x} at position "
                f"{exc.start} cannot be decoded")
    if isinstance(exc, KeyError) and len(exc.args) == 1:
        return str(exc.args[0])
    if type(exc).__name__ == "ValidationError" and hasattr(exc, "errors"):  # pydantic
        title = getattr(exc, "title", "")
        problems = "; ".join(
            f"{'.'.join(map(str, e['loc'])) or 'value'}: {e['msg']}" for e in exc.errors()
        )
        return f"{title}: {problems}" if title else problems
    return str(exc) or type(exc).__name__


def check_output(path: Path, option: str = "--out", *, folder: bool = False) -> Path:
    """Fail now, before any work, if ``path`` cannot be written as a file (or a folder).

    A missing parent is fine when it could be created: the nearest existing ancestor must be
    a folder we can create entries in (probed, since ``os.access`` says yes to root even
    where the kernel refuses, as in ``/proc``).
    """
    if path.exists():
        if folder and not path.is_dir():
            fail(f"{option} {path}: exists and is not a folder")
        if not folder and path.is_dir():
            fail(f"{option} {path}: is a folder, expected a file name")
        if not folder:
            if not os.access(path, os.W_OK):
                fail(f"{option} {path}: not writable")
            return path
    ancestor = path if folder else path.parent
    while not ancestor.exists() and ancestor != ancestor.parent:
        ancestor = ancestor.parent
    if not ancestor.is_dir():
        fail(f"{option} {path}: {ancestor} is not a folder")
    try:
        os.rmdir(tempfile.mkdtemp(prefix=".movierec-probe-", dir=ancestor))
    except OSError as exc:
        fail(f"{option} {path}: cannot write in {ancestor} ({exc.strerror or exc})")
    return path


def print_json_line(payload: dict[str, Any]) -> None:
    """One JSON object per line on stdout (machine-readable output)."""
    from recsys.jsonable import json_default  # numpy: not on the path of `movierec --help`

    sys.stdout.write(json.dumps(payload, default=json_default) + "\n")
