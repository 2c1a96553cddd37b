"""The training flow for callers outside Prefect (the CLI, a drift retrain).

Prefect reads its settings (its home, the temporary server's start-up timeout) when it is
imported, so the flow is imported only after ``flows.runtime.configure``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from flows.runtime import configure


def configured_pipeline(home: str | Path | None = None) -> Any:
    """The ``pipeline`` flow, with Prefect configured to keep its state in ``home``."""
    configure(home)
    # Prefect reads its settings on import: flows.pipeline only after configure()
    from flows.pipeline import pipeline

    return pipeline
