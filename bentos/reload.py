"""Hot model swaps: when the served source points at another model, load it beside the
one serving and swap.

The source's identity is cheap to read: the registry alias's version, or for a model
folder (``$MOVIEREC_MODEL_DIR``, possibly a symlink that a deploy re-points) its
``serving.json`` version and the saved model's modification time. ``Reloader.check``
compares it with what is served; on a change it loads the new model, prepares it (the
catalogue check, ranked lists, explainer) while the old one keeps answering, then swaps
in one assignment. A model that fails to load or is refused keeps the old one serving;
the failure is logged and shown on ``/readyz`` and ``/model`` until a later load works.

Each check also re-reads the monitor's recent histories (``recsys.serving.recent``) when
the table's modification time moved, so a user's new ratings count without a restart.
"""

from __future__ import annotations

import logging
import os
import re
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bentos.model_source import alias_version, load_registry_version, model_from_folder
from recsys.serving.config import ServeConfig
from recsys.serving.engine import RecommendationEngine
from recsys.serving.heap import settle
from recsys.serving.model import ModelInfo
from recsys.serving.recent import RecentHistories

logger = logging.getLogger("movierec.serving")


#: An absolute path: shown by its last part only.
ABSOLUTE_PATH = re.compile(r"(?<![\w:])(?:/[^\s/:'\"]+)+/([^\s/:'\"]+)")


def without_paths(message: str) -> str:
    """``message`` with absolute server paths cut to their last part (``/readyz`` and
    ``/model`` are public; the server log keeps the full message)."""
    return ABSOLUTE_PATH.sub(r"\1", message)


def folder_identity(folder: Path) -> str:
    """What identifies the model saved in ``folder`` (follows symlinks)."""
    real = folder.resolve()
    stamp = (real / "model.json").stat().st_mtime_ns if (real / "model.json").exists() else 0
    return f"{real}:{stamp}"


def recent_identity(path: Path | None) -> int | None:
    """What identifies the recent-histories table's content (``None``: no table)."""
    try:
        return None if path is None else path.stat().st_mtime_ns
    except FileNotFoundError:
        return None


class Reloader:
    """Watches the source the engine's model came from.

    Args:
        engine: the engine whose model is swapped.
        config: the serve configuration (registry name and alias, poll interval).
        folder: the model folder being served, if the model came from one.
    """

    def __init__(self, engine: RecommendationEngine, config: ServeConfig,
                 folder: Path | None = None, *, recent: Path | None = None) -> None:
        self.engine = engine
        self.config = config
        self.folder = folder
        self.recent = recent
        self._recent_seen = recent_identity(recent)
        self.registry = folder is None and engine.model.source.startswith("models:/")
        self._seen = self._identity()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _identity(self) -> str | None:
        if self.folder is not None:
            return folder_identity(self.folder)
        if self.registry:
            return alias_version(self.config.model_name, self.config.alias)
        return None  # a Bento's captured model never changes

    def _load(self) -> ModelInfo:
        if self.folder is not None:
            return model_from_folder(self.folder)
        return load_registry_version(self.config.model_name, alias=self.config.alias)

    def check(self) -> dict[str, Any]:
        """Swap to the source's current model if it changed, and re-read the recent
        histories if they did; what happened to the model."""
        with self._lock:
            self._check_recent()
            before = self.engine.model.version
            try:
                identity = self._identity()
            except Exception as exc:  # noqa: BLE001 - a registry hiccup must not stop serving
                return self._failed(f"could not read the model source: {exc}", before)
            if identity is None or identity == self._seen:
                return {"swapped": False, "version": before, "error": self.engine.reload_error}
            try:
                served = self.engine.prepare(self._load())
            except Exception as exc:  # noqa: BLE001 - any failure keeps the old model serving
                self._seen = identity  # not retried until the source moves again
                return self._failed(f"new model {identity} not loaded: {exc}", before)
            self.engine.swap(served)
            self._seen = identity
            settle()  # the new model joins the frozen heap; the old one is freed by refcount
            logger.info("swapped model %s -> %s", before, served.info.version)
            return {"swapped": True, "version": served.info.version, "previous": before,
                    "error": None}

    def _check_recent(self) -> None:
        identity = recent_identity(self.recent)
        if self.recent is None or identity == self._recent_seen:
            return
        try:
            recent = RecentHistories.read(self.recent)
        except Exception:  # noqa: BLE001 - a half-written or broken table keeps the last one
            logger.exception("recent histories %s not read; serving the previous ones",
                             self.recent)
            return
        self.engine.set_recent(recent)
        self._recent_seen = identity
        logger.info("serving %d users from their recent histories", len(recent))

    def _failed(self, message: str, version: str) -> dict[str, Any]:
        logger.error("model reload failed, still serving %s: %s", version, message)
        self.engine.reload_error = without_paths(message)
        return {"swapped": False, "version": version, "error": message}

    def start(self, interval: float) -> None:
        """Poll every ``interval`` seconds in a daemon thread (0: never)."""
        if interval <= 0 or self._thread is not None:
            return
        self._thread = threading.Thread(target=self._poll, args=(interval,),
                                        name="model-reload", daemon=True)
        self._thread.start()

    def _poll(self, interval: float) -> None:
        while not self._stop.wait(interval):
            self.check()

    def stop(self) -> None:
        self._stop.set()


def reload_interval(config: ServeConfig, getenv: Callable[[str], str | None] = os.environ.get
                    ) -> float:
    value = getenv("MOVIEREC_RELOAD_SECONDS")
    return float(value) if value else config.reload_seconds
