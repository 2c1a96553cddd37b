"""The one ``json.dumps`` fallback for the values numpy, pandas and paths put in payloads."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import PurePath
from typing import Any

import numpy as np


def json_default(value: Any) -> Any:
    """``default=`` of ``json.dumps``: numpy scalars and arrays as Python values, paths as
    text, dates in ISO format; anything else is a ``TypeError`` (as ``json`` raises)."""
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, PurePath):
        return str(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")
