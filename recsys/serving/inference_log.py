"""The inference log: one JSON line per answered request, written off the request path.

* ``InferenceLog.append`` only queues the record; a background thread serialises and writes
  the queue every ``flush_seconds`` (or sooner once ``max_pending`` records wait), and
  ``close`` writes whatever is left, so nothing is lost on an orderly shutdown.
* The file is capped: once it exceeds ``max_bytes`` it is renamed ``<name>.1`` (older
  copies shift to ``.2`` ... ``.<backups>``, the oldest is dropped). Several worker
  processes may share one file: rotation holds an ``flock`` on ``<name>.lock``, and a
  writer whose file was rotated away by another process reopens the new one.
* ``iter_log`` reads a log (and its rotated copies, oldest first) one line at a time and
  skips a torn last line (a writer killed mid-line), so a reader never needs the whole
  file in memory.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import orjson

logger = logging.getLogger("movierec.serving")

#: Characters of a refused request body kept in the log (a 50 KB body must not become a
#: 50 KB line).
MAX_LOGGED_REQUEST_CHARS = 1_000
DEFAULT_MAX_BYTES = 50 * 1024 * 1024
DEFAULT_BACKUPS = 3


def _default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def encode_record(record: dict[str, Any]) -> bytes:
    """One log line. Answers (status 200, scores already finite or null) go through orjson;
    a refused request may carry NaN or odd values, which orjson would turn into null, so it
    is written by ``json`` and, failing that, keeps its request as truncated text."""
    if record.get("status", 200) == 200:
        try:
            return orjson.dumps(record, default=_default) + b"\n"
        except (TypeError, orjson.JSONEncodeError):
            pass
    try:
        return json.dumps(record, default=_default, allow_nan=False).encode() + b"\n"
    except (ValueError, TypeError):
        raw = json.dumps(record.get("request"), default=repr)[:MAX_LOGGED_REQUEST_CHARS]
        safe = {**record, "request": raw}
        return json.dumps(safe, default=repr, allow_nan=False).encode() + b"\n"


def truncated_request(body: bytes) -> dict[str, Any] | str | None:
    """A refused request body for the log: the parsed object when it is small, else its
    first ``MAX_LOGGED_REQUEST_CHARS`` characters as text."""
    if not body:
        return None
    if len(body) <= MAX_LOGGED_REQUEST_CHARS:
        try:
            parsed = orjson.loads(body)
        except orjson.JSONDecodeError:
            parsed = None
        if isinstance(parsed, dict):
            return parsed
    return body[:MAX_LOGGED_REQUEST_CHARS].decode("utf-8", "replace")


def log_record(endpoint: str, *, user_id: int | None, items: list[int], scores: list[float | None],
               latency_ms: float, model_version: str | None, cold_start: bool | None,
               status: int = 200, request: dict[str, Any] | str | None = None,
               error: str | None = None, note: str | None = None) -> dict[str, Any]:
    """One inference-log line (the fields monitoring reads, plus status and request)."""
    record: dict[str, Any] = {
        "ts": datetime.now(UTC).isoformat(timespec="milliseconds"),
        "endpoint": endpoint,
        "user_id": user_id,
        "items": items,
        "scores": scores,
        "latency_ms": round(latency_ms, 3),
        "model_version": model_version,
        "cold_start": cold_start,
        "status": status,
        "request": request,
    }
    if error is not None:
        record["error"] = error
    if note is not None:
        record["note"] = note
    return record


class InferenceLog:
    """Buffered, size-capped JSON-lines log shared by the threads of one process.

    Args:
        path: the log file.
        max_bytes: rotate once the file is larger than this.
        backups: rotated copies kept (``<name>.1`` is the newest).
        flush_seconds: how often the background thread writes the queue.
        max_pending: records queued before the writer is woken early.
    """

    def __init__(self, path: str | Path, *, max_bytes: int = DEFAULT_MAX_BYTES,
                 backups: int = DEFAULT_BACKUPS, flush_seconds: float = 0.2,
                 max_pending: int = 512) -> None:
        self.path = Path(path)
        self.max_bytes = max_bytes
        self.backups = backups
        self.flush_seconds = flush_seconds
        self.max_pending = max_pending
        self._pending: list[dict[str, Any]] = []
        self._lock = threading.Lock()  # guards _pending
        self._io_lock = threading.Lock()  # one writer at a time (thread or close)
        self._wake = threading.Event()
        self._closed = False
        self._file: Any = None
        self._thread: threading.Thread | None = None

    # -- producer side -------------------------------------------------------------------
    def append(self, record: dict[str, Any]) -> None:
        """Queue ``record``; it is written within ``flush_seconds``."""
        if self._closed:
            self._write([record])
            return
        with self._lock:
            self._pending.append(record)
            many = len(self._pending) >= self.max_pending
        if self._thread is None:
            self._start()
        if many:
            self._wake.set()

    def _start(self) -> None:
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="inference-log",
                                                daemon=True)
                self._thread.start()

    def _run(self) -> None:
        while not self._closed:
            self._wake.wait(self.flush_seconds)
            self._wake.clear()
            self.flush()

    # -- writing -------------------------------------------------------------------------
    def flush(self) -> None:
        """Write every queued record now."""
        with self._lock:
            batch, self._pending = self._pending, []
        if batch:
            self._write(batch)

    def _write(self, batch: list[dict[str, Any]]) -> None:
        data = b"".join(encode_record(r) for r in batch)
        with self._io_lock:
            try:
                handle = self._handle()
                os.write(handle.fileno(), data)  # one O_APPEND write: lines never interleave
                if os.fstat(handle.fileno()).st_size > self.max_bytes:
                    self._rotate()
            except OSError as exc:  # a full disk must not take recommendations down
                logger.error("inference log write failed (%d records lost): %s", len(batch), exc)

    def _handle(self) -> Any:
        """The open file, reopened when another process rotated it away."""
        if self._file is not None:
            try:
                current = os.stat(self.path)
                mine = os.fstat(self._file.fileno())
                if (current.st_ino, current.st_dev) == (mine.st_ino, mine.st_dev):
                    return self._file
            except FileNotFoundError:
                pass
            self._file.close()
            self._file = None
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._file = self.path.open("ab", buffering=0)
        return self._file

    def _rotate(self) -> None:
        lock_path = self.path.with_name(self.path.name + ".lock")
        with lock_path.open("a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                # another process may have rotated while this one waited for the lock
                if not self.path.exists() or self.path.stat().st_size <= self.max_bytes:
                    return
                if self.backups < 1:
                    self.path.unlink()
                else:
                    for n in range(self.backups - 1, 0, -1):
                        older = self.path.with_name(f"{self.path.name}.{n}")
                        if older.exists():
                            older.replace(self.path.with_name(f"{self.path.name}.{n + 1}"))
                    self.path.replace(self.path.with_name(f"{self.path.name}.1"))
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)
        if self._file is not None:
            self._file.close()
            self._file = None

    def close(self) -> None:
        """Stop the writer thread and write everything still queued."""
        self._closed = True
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        self.flush()
        with self._io_lock:
            if self._file is not None:
                self._file.close()
                self._file = None


def log_files(path: str | Path) -> list[Path]:
    """The log and its rotated copies, oldest first."""
    path = Path(path)
    rotated = []
    n = 1
    while (candidate := path.with_name(f"{path.name}.{n}")).is_file():
        rotated.append(candidate)
        n += 1
    return [*reversed(rotated), *([path] if path.is_file() else [])]


def iter_log(path: str | Path, *, rotated: bool = True) -> Iterator[dict[str, Any]]:
    """The records of a log, one at a time (oldest first with ``rotated``).

    A last line without its newline that does not parse is a write cut short (a killed
    worker) and is skipped with a warning; a broken line elsewhere is an error.

    Raises:
        ValueError: a line before the last one is not a JSON object.
    """
    files = log_files(path) if rotated else ([Path(path)] if Path(path).is_file() else [])
    for file in files:
        with file.open("rb") as handle:
            for number, line in enumerate(handle, start=1):
                if not line.strip():
                    continue
                try:
                    record = orjson.loads(line)
                except orjson.JSONDecodeError as exc:
                    if not line.endswith(b"\n"):
                        logger.warning("%s: skipping a torn last line (%d bytes)", file, len(line))
                        continue
                    raise ValueError(f"{file}, line {number}: not a JSON object ({exc})") from exc
                if not isinstance(record, dict):
                    raise ValueError(f"{file}, line {number}: not a JSON object")
                yield record
