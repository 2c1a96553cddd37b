"""A circuit breaker for a networked availability source.

After ``failures`` consecutive failed lookups the breaker opens: for ``cooldown_seconds``
no call is made (answers come from the stale cache or are unknown), then one trial call is
let through; a success closes it again, a failure reopens it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable


class CircuitBreaker:
    """Counts consecutive failures; ``allow()`` says whether to call the source now."""

    def __init__(self, failures: int = 3, cooldown_seconds: float = 30.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.failures = failures
        self.cooldown_seconds = cooldown_seconds
        self.clock = clock
        self._consecutive = 0
        self._opened_at: float | None = None
        self._lock = threading.Lock()

    @property
    def is_open(self) -> bool:
        with self._lock:
            return self._opened_at is not None and \
                self.clock() - self._opened_at < self.cooldown_seconds

    def allow(self) -> bool:
        """Closed, or open long enough for a trial call."""
        return not self.is_open

    def success(self) -> None:
        with self._lock:
            self._consecutive = 0
            self._opened_at = None

    def failure(self) -> None:
        with self._lock:
            self._consecutive += 1
            if self._consecutive >= self.failures:
                self._opened_at = self.clock()
