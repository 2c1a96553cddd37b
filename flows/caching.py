"""Step caching by input hash, as in Kubeflow pipelines.

A step's cache key (:func:`step_key`) hashes everything its result depends on:

* its task's name and the file of the module that defines it (the step's code and the
  helpers beside it), plus the source folders it runs (``bentos/`` for the package step);
* the ``recsys`` library's files, data files included (a model, a metric, the splitter, a
  shilling detector and its reference arrays...);
* its parameters, where a parameter naming an existing file or folder counts by its
  *content* (md5), not its path, and a typed config by its JSON;
* the environment variables that change results (thread counts, TensorFlow's numerics,
  hash seeds) and the versions of Python and of the libraries that compute results.

Rerunning with unchanged inputs finds the persisted result and skips the step; changing
any of them reruns it and everything downstream of it. A cached result also records the
digests of the files it wrote (:class:`Outputs`); :func:`cached_call` reruns a step whose
outputs were deleted or changed since (a truncated ``ratings.parquet`` is rebuilt).
"""

from __future__ import annotations

import functools
import hashlib
import importlib.metadata
import inspect
import json
import os
import platform
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from prefect import get_run_logger
from prefect.context import TaskRunContext
from pydantic import BaseModel

import recsys
from recsys.models._keras import TENSORFLOW_ENV
from recsys.tracking.mlflow_runs import digest_of

#: The library every cached step calls into; its files are part of every cache key.
LIBRARY = Path(recsys.__file__).resolve().parent

#: Parameters hashed by content: names ending like this, and these containers of paths.
#: Every other parameter (notably output folders such as ``model_dir``) counts by value, so
#: a step's own outputs never change its key.
CONTENT_SUFFIXES = ("_path", "_paths", "_dir_content")
CONTENT_PARAMS = frozenset({"raw_dir", "results", "split", "tables", "best", "suites_dir"})

#: Environment variables that change what a step computes: BLAS/OpenMP thread counts change
#: the order of float sums, TensorFlow's switches change its kernels, the hash seed changes
#: set iteration order.
RESULT_ENV = (
    "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS",
    "PYTHONHASHSEED", "KERAS_BACKEND", "TF_ENABLE_ONEDNN_OPTS", "TF_DETERMINISTIC_OPS",
    "CUDA_VISIBLE_DEVICES",
)

#: Distributions whose version changes a step's result (numerics, file formats, GX's
#: checks, MLflow's and BentoML's stores, Prefect's result format).
RESULT_LIBRARIES = (
    "numpy", "scipy", "pandas", "pyarrow", "scikit-learn", "implicit", "tensorflow-cpu",
    "tensorflow", "keras", "great-expectations", "mlflow", "bentoml", "prefect",
)


def _looks_like_path(value: object) -> bool:
    return isinstance(value, Path) or (
        isinstance(value, str) and 0 < len(value) < 4096 and "\n" not in value
        and ("/" in value or value.endswith((".parquet", ".csv", ".json")))
    )


def fingerprint(value: Any, *, by_content: bool = True) -> str:
    """A stable text fingerprint; with ``by_content``, existing files/folders count by md5."""
    if isinstance(value, BaseModel):
        return f"{type(value).__name__}:{value.model_dump_json()}"
    if by_content and _looks_like_path(value):
        path = Path(value)
        if path.exists():
            return f"content:{digest_of(path)}"
        return f"missing:{value}"
    if isinstance(value, Mapping):
        return "{" + ",".join(f"{k}={fingerprint(v, by_content=by_content)}"
                              for k, v in sorted(value.items(), key=lambda kv: str(kv[0]))) + "}"
    if isinstance(value, list | tuple):
        return "[" + ",".join(fingerprint(v, by_content=by_content) for v in value) + "]"
    if hasattr(value, "__dataclass_fields__"):
        fields = {name: getattr(value, name) for name in value.__dataclass_fields__}
        return f"{type(value).__name__}:{fingerprint(fields, by_content=by_content)}"
    try:
        return json.dumps(value, sort_keys=True, default=str)
    except TypeError:
        return repr(value)


def source_of(fn: Callable[..., Any]) -> str:
    """The text of the module defining ``fn`` (its own source if the file cannot be read)."""
    try:
        return Path(inspect.getfile(fn)).read_text()
    except (OSError, TypeError):
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


def _version(distribution: str) -> str:
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return "absent"


def library_versions(distributions: Iterable[str] = RESULT_LIBRARIES) -> dict[str, str]:
    """Python's version and each distribution's (``absent`` when not installed)."""
    return {"python": platform.python_version(),
            **{name: _version(name) for name in distributions}}


def result_environment(names: Iterable[str] = RESULT_ENV) -> dict[str, str | None]:
    """The effective values of the result-changing environment variables (``None``: unset).

    A variable the library sets itself when it first imports TensorFlow counts by the value
    it will have, so a key does not depend on whether a neural model trained earlier in the
    same process.
    """
    return {name: os.environ.get(name, TENSORFLOW_ENV.get(name)) for name in names}


def step_key(name: str, fn: Callable[..., Any], parameters: Mapping[str, Any], *,
             sources: Sequence[Path] = (), env: Sequence[str] = ()) -> str:
    """The cache key of step ``name`` running ``fn`` on ``parameters`` (module docstring),
    with the extra source folders ``sources`` and environment variables ``env``."""
    digest = hashlib.sha256()
    digest.update(name.encode())
    digest.update(source_of(fn).encode())
    digest.update(Path(__file__).read_bytes())  # how keys and outputs are checked
    digest.update(library_digest(LIBRARY).encode())
    for folder in sources:
        digest.update(library_digest(Path(folder).resolve()).encode())
    digest.update(json.dumps(result_environment((*RESULT_ENV, *env)), sort_keys=True).encode())
    digest.update(json.dumps(library_versions(), sort_keys=True).encode())
    for parameter in sorted(parameters):
        digest.update(parameter.encode())
        by_content = parameter.endswith(CONTENT_SUFFIXES) or parameter in CONTENT_PARAMS
        digest.update(fingerprint(parameters[parameter], by_content=by_content).encode())
    return digest.hexdigest()


def content_key(context: TaskRunContext, parameters: dict[str, Any]) -> str:
    """Prefect ``cache_key_fn``: :func:`step_key` of the task with no extra inputs."""
    return step_key(context.task.name, context.task.fn, parameters)


def key_with(*, sources: Sequence[Path] = (),
             env: Sequence[str] = ()) -> Callable[[TaskRunContext, dict[str, Any]], str]:
    """A ``cache_key_fn`` that also hashes the source folders ``sources`` (code the step
    runs outside ``recsys/``) and the environment variables ``env``."""
    def key(context: TaskRunContext, parameters: dict[str, Any]) -> str:
        return step_key(context.task.name, context.task.fn, parameters, sources=sources, env=env)

    return key


@dataclass(frozen=True)
class Outputs:
    """The files a step wrote and their digests when it wrote them."""

    digests: dict[str, str] = field(default_factory=dict)

    @classmethod
    def of(cls, paths: Iterable[str | Path | None]) -> Outputs:
        return cls({str(p): digest_of(p) for p in paths if p is not None})

    def changed(self) -> list[str]:
        """The outputs that are gone or no longer hold what the step wrote."""
        return [f"{path} {'changed' if Path(path).exists() else 'is gone'}"
                for path, digest in self.digests.items()
                if not Path(path).exists() or digest_of(path) != digest]


def missing_outputs(paths: Iterable[str | Path | None]) -> list[str]:
    """The given output paths that do not exist (a cached result whose files are gone)."""
    return [str(p) for p in paths if p is not None and not Path(p).exists()]


def cached_call(step: Any, outputs: Callable[[Any], Iterable[str | Path | None] | Outputs], /,
                **kwargs: Any) -> Any:
    """Run ``step``; if its (cached) result names files that are gone or that changed since
    it wrote them, run it again for real. ``outputs`` maps the result to its
    :class:`Outputs` (digests checked) or to plain paths (existence checked)."""
    result = step(**kwargs)
    written = outputs(result)
    stale = written.changed() if isinstance(written, Outputs) else missing_outputs(written)
    if stale:
        get_run_logger().warning("cached %s result no longer matches its files (%s): "
                                 "recomputing", step.name, "; ".join(stale))
        result = step.with_options(refresh_cache=True)(**kwargs)
    return result
