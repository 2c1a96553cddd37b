"""The one error of the dashboard: an input that exists but cannot be trusted."""

from __future__ import annotations

from pathlib import Path


class ReportInputError(ValueError):
    """A file the dashboard reads is corrupt (fail closed: no page built from half the facts)."""

    def __init__(self, source: str | Path, problem: str) -> None:
        super().__init__(f"{source}: {problem}")
        self.source = str(source)
        self.problem = problem
