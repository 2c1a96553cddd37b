"""Read ``params.yaml``: the one file of tunable values (validated section by section)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

DEFAULT_PARAMS = Path("params.yaml")


def load_params(path: str | Path = DEFAULT_PARAMS) -> dict[str, Any]:
    """The whole parameter file as a dict (empty when the file does not exist)."""
    import yaml

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


def with_profile(params: dict[str, Any], profile: str | None) -> dict[str, Any]:
    """``params`` with ``profiles.<profile>`` deep-merged over the top level (mappings merge
    key by key; any other value replaces), without the ``profiles`` section.

    The smallest local version of the overlay the strict parameter tree implements; it
    lives here, alone, so that it can be replaced by that tree's.

    Raises:
        ValueError: for a profile ``params.yaml`` does not define.
    """
    profiles = params.get("profiles") or {}
    base = {key: value for key, value in params.items() if key != "profiles"}
    if profile is None:
        return base
    if profile not in profiles:
        known = ", ".join(sorted(profiles)) or "none defined"
        raise ValueError(f"unknown profile {profile!r} (params.yaml profiles: {known})")

    def merge(low: Any, high: Any) -> Any:
        if isinstance(low, dict) and isinstance(high, dict):
            return {**low, **{k: merge(low.get(k), v) for k, v in high.items()}}
        return high

    merged: dict[str, Any] = merge(base, profiles[profile] or {})
    return merged
