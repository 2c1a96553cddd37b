"""Step caching by input hash, as in Kubeflow pipelines.

A step's cache key hashes its task's source code, the ``recsys`` library's files, and its
parameters, where a parameter naming an existing file or folder counts by its *content*
(md5), not its path. Rerunning with unchanged data, parameters and code therefore finds
the persisted result and skips the step; touching a byte of an input, or of any library
module the step may call (a model, a metric, the splitter, a shilling detector and its
reference arrays...), reruns it and everything downstream of it.
"""

from __future__ import annotations

import functools
import hashlib
import inspect
import json
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from prefect.context import TaskRunContext

import recsys
from recsys.tracking.mlflow_runs import digest_of

#: The library every cached step calls into; its files are part of every cache key.
LIBRARY = Path(recsys.__file__).resolve().parent

#: Parameters hashed by content: names ending like this, and these containers of paths.
#: Every other parameter (notably output folders such as ``model_dir``) counts by value, so
#: a step's own outputs never change its key.
CONTENT_SUFFIXES = ("_path", "_paths")
CONTENT_PARAMS = frozenset({"raw_dir", "results", "split", "tables", "best"})


def _looks_like_path(value: object) -> bool:
    return isinstance(value, Path) or (
        isinstance(value, str) and 0 < len(value) < 4096 and "\n" not in value
        and ("/" in value or value.endswith((".parquet", ".csv", ".json")))
    )


def fingerprint(value: Any, *, by_content: bool = True) -> str:
    """A stable text fingerprint; with ``by_content``, existing files/folders count by md5."""
    if by_content and _looks_like_path(value):
        path = Path(value)
        if path.exists():
            return f"content:{digest_of(path)}"
        return f"missing:{value}"
    if isinstance(value, dict):
        return "{" + ",".join(f"{k}={fingerprint(v, by_content=by_content)}"
                              for k, v in sorted(value.items(), key=lambda kv: str(kv[0]))) + "}"
    if isinstance(value, list | tuple):
        return "[" + ",".join(fingerprint(v, by_content=by_content) for v in value) + "]"
    try:
        return json.dumps(value, sort_keys=True, default=str)
    except TypeError:
        return repr(value)


def source_of(fn: Callable[..., Any]) -> str:
    try:
        return inspect.getsource(fn)
    except (OSError, TypeError):
        return getattr(fn, "__qualname__", repr(fn))


@functools.cache
def library_digest(folder: Path) -> str:
    """sha256 of every file of the package in ``folder`` (sorted relative paths + contents).

    Data files count too (``recsys/shilling/reference/*.npz`` are the fitted detectors);
    bytecode caches do not. Computed once per process and folder: the library does not
    change under a running pipeline.
    """
    digest = hashlib.sha256()
    files = sorted(p for p in folder.rglob("*")
                   if p.is_file() and "__pycache__" not in p.parts and p.suffix != ".pyc")
    for file in files:
        digest.update(str(file.relative_to(folder)).encode())
        digest.update(hashlib.sha256(file.read_bytes()).digest())
    return digest.hexdigest()


def content_key(context: TaskRunContext, parameters: dict[str, Any]) -> str:
    """Prefect ``cache_key_fn``: task source + library files + parameters (files by content)."""
    digest = hashlib.sha256()
    digest.update(context.task.name.encode())
    digest.update(source_of(context.task.fn).encode())
    digest.update(library_digest(LIBRARY).encode())
    for name in sorted(parameters):
        digest.update(name.encode())
        by_content = name.endswith(CONTENT_SUFFIXES) or name in CONTENT_PARAMS
        digest.update(fingerprint(parameters[name], by_content=by_content).encode())
    return digest.hexdigest()


def missing_outputs(paths: Iterable[str | Path | None]) -> list[str]:
    """The given output paths that do not exist (a cached result whose files are gone)."""
    return [str(p) for p in paths if p is not None and not Path(p).exists()]
