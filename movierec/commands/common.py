"""Helpers shared by the command modules: console output and error reporting."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, NoReturn

import typer
from rich.console import Console

console = Console(stderr=True)


def fail(message: str, code: int = 1) -> NoReturn:
    """Print ``message`` as an error on stderr and exit with ``code``."""
    console.print(f"[bold red]error:[/] {message}", highlight=False)
    raise typer.Exit(code)


@contextmanager
def user_errors(*kinds: type[BaseException]) -> Iterator[None]:
    """Turn expected exceptions (bad input, missing files) into a clean error exit."""
    try:
        yield
    except (FileNotFoundError, ValueError, KeyError) + kinds as exc:
        fail(str(exc).strip("'\""))


def print_json_line(payload: dict[str, Any]) -> None:
    """One JSON object per line on stdout (machine-readable output)."""
    sys.stdout.write(json.dumps(payload, default=_json_default) + "\n")


def _json_default(value: Any) -> Any:
    if hasattr(value, "item"):
        return value.item()
    if hasattr(value, "tolist"):
        return value.tolist()
    return str(value)
