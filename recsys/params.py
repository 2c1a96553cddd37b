"""Read ``params.yaml``: the one file of tunable values (validated section by section)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

DEFAULT_PARAMS = Path("params.yaml")


def load_params(path: str | Path = DEFAULT_PARAMS) -> dict[str, Any]:
    """The whole parameter file as a dict (empty when the file does not exist)."""
    path = Path(path)
    if not path.is_file():
        return {}
    try:
        loaded = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise ValueError(f"{path}: not valid YAML ({' '.join(str(exc).split())})") from exc
    if not isinstance(loaded, dict):
        raise ValueError(f"{path}: expected a mapping at the top level")
    return loaded


def section(name: str, path: str | Path = DEFAULT_PARAMS) -> dict[str, Any]:
    """One top-level section of ``params.yaml`` (empty when absent)."""
    value = load_params(path).get(name) or {}
    if not isinstance(value, dict):
        raise ValueError(f"{path}: section {name!r} must be a mapping")
    return value
