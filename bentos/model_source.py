"""Where the served model comes from, first hit wins:

1. ``$MOVIEREC_MODEL_DIR``: a folder written by ``BaseRecommender.save``;
2. the MLflow registry ``models:/<name>@<alias>`` (tried when ``$MLFLOW_TRACKING_URI`` is
   set or ``mlflow.db`` exists), loaded by ``load_registry_version``;
3. in a built Bento, the model ``bentos.build`` captured into it (the tag its
   ``bento.yaml`` names; never, from a source checkout, whatever the store holds).

``load_registry_version`` is the one place a registry version becomes a served model: the
verified, pickle-free loader of ``recsys.tracking.artifacts`` replaces its body.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from recsys.models import load_model
from recsys.serving.config import ServeConfig
from recsys.serving.model import ModelInfo
from recsys.tracking.mlflow_runs import resolve_tracking_uri, store_exists
from recsys.tracking.registry import RegistryError, load_champion, load_version

logger = logging.getLogger("movierec.serving")
#: The Bento label naming the dataset a Bento was built for (``bentos.build``).
DATASET_LABEL = "dataset"


def _read_json(path: Path) -> dict[str, Any]:
    try:
        loaded = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return loaded if isinstance(loaded, dict) else {}


def model_from_folder(folder: Path) -> ModelInfo:
    """A model saved by ``BaseRecommender.save`` (plus optional ``serving.json`` metadata)."""

    recommender = load_model(folder)
    meta = _read_json(folder / "serving.json")
    return ModelInfo(
        recommender=recommender,
        version=str(meta.get("version") or f"local:{folder.name}"),
        source=str(meta.get("source") or f"folder:{folder.name}"),
        alias=meta.get("alias"),
        variant=meta.get("variant") or recommender.name,
        metrics={k: float(v) for k, v in (meta.get("metrics") or {}).items()},
        data_hash=meta.get("data_hash"),
        run_id=meta.get("run_id"),
        folder=folder,
        dataset=meta.get("dataset"),
    )


def registry_configured() -> bool:
    """Whether there is a registry to read (a missing SQLite file holds no champion, and
    reading it must not create it: see ``store_exists``)."""
    return store_exists(None)


def load_registry_version(model_name: str, *, alias: str | None = None,
                          version: str | None = None, tracking_uri: str | None = None
                          ) -> ModelInfo:
    """``models:/<model_name>@<alias>`` (or ``/<version>``) as a served model.

    Raises:
        RegistryError: no such alias or version.
    """

    if version is not None:
        loaded = load_version(version, model_name, tracking_uri=tracking_uri)
        source = f"models:/{model_name}/{version}"
    else:
        loaded = load_champion(model_name=model_name, alias=alias or "champion",
                               tracking_uri=tracking_uri)
        source = f"models:/{model_name}@{alias}"
    return ModelInfo(
        recommender=loaded.recommender,
        version=str(loaded.version),
        source=source,
        alias=loaded.alias or None,
        variant=loaded.variant,
        metrics={k: float(v) for k, v in (loaded.metrics or {}).items()},
        data_hash=loaded.data_hash,
        run_id=loaded.run_id,
        dataset=getattr(loaded, "dataset", None),
    )


def alias_version(model_name: str, alias: str) -> str | None:
    """The version ``alias`` points at now (``None``: no registry or no such alias); cheap
    enough to poll."""
    if not registry_configured():
        return None
    from mlflow.exceptions import MlflowException
    from mlflow.tracking import MlflowClient


    try:
        client = MlflowClient(tracking_uri=resolve_tracking_uri(None))
        return str(client.get_model_version_by_alias(model_name, alias).version)
    except MlflowException:
        return None


def model_from_registry(model_name: str, alias: str) -> ModelInfo | None:
    """The MLflow champion, or ``None`` when no registry is configured or it lacks one."""
    if not registry_configured():
        return None

    try:
        return load_registry_version(model_name, alias=alias)
    except RegistryError as exc:
        logger.warning("no %s@%s in the MLflow registry (%s)", model_name, alias, exc)
        return None


def bento_manifest(here: Path = Path(__file__)) -> dict[str, Any] | None:
    """The ``bento.yaml`` of the built Bento this module runs from; ``None`` from a source
    checkout."""
    for parent in here.resolve().parents[:3]:
        manifest = parent / "bento.yaml"
        if manifest.is_file():
            return yaml.safe_load(manifest.read_text()) or {}
    return None


def bento_dataset(here: Path = Path(__file__)) -> str | None:
    """The dataset the built Bento this module runs from was built for (its
    ``DATASET_LABEL``); ``None`` from a source checkout or a Bento built without one."""
    labels = (bento_manifest(here) or {}).get("labels") or {}
    return str(labels[DATASET_LABEL]) if DATASET_LABEL in labels else None


def bento_model_tag(model_name: str, here: Path = Path(__file__)) -> str | None:
    """The tag of ``model_name`` in the built Bento this module runs from (its
    ``bento.yaml``); ``None`` from a source checkout, where the store's latest model may have
    been left by any other checkout or run on the machine."""
    info = bento_manifest(here)
    if info is None:
        return None
    tags = [str(m.get("tag", "")) for m in info.get("models") or []]
    return next((t for t in tags if t.split(":")[0] == model_name), None)


def model_from_bento_store(model_name: str, tag: str | None = None) -> ModelInfo | None:
    """The model ``bentos.build`` captured into the BentoML model store (``tag``, default
    the latest of ``model_name``)."""
    import bentoml
    from bentoml.exceptions import NotFound as StoreNotFound

    try:
        stored = bentoml.models.get(tag or f"{model_name}:latest")
    except StoreNotFound:
        return None
    info = model_from_folder(Path(stored.path) / "recommender")
    meta: dict[str, Any] = dict(stored.info.metadata)
    return ModelInfo(
        recommender=info.recommender,
        version=str(meta.get("version") or stored.tag.version),
        source=f"bento:{stored.tag}",
        alias=meta.get("alias"),
        variant=meta.get("variant") or info.variant,
        metrics={k: float(v) for k, v in (meta.get("metrics") or {}).items()},
        data_hash=meta.get("data_hash"),
        run_id=meta.get("run_id"),
        folder=Path(stored.path),
        dataset=meta.get("dataset"),
    )


def resolve_model(config: ServeConfig) -> ModelInfo:
    """The model to serve: env folder, then MLflow champion, then the Bento's own model."""
    folder = os.environ.get("MOVIEREC_MODEL_DIR")
    if folder:
        return model_from_folder(Path(folder))
    info = model_from_registry(config.model_name, config.alias)
    if info is not None:
        return info
    # only a built Bento falls back to the model it captured (never the store's "latest")
    tag = bento_model_tag(config.model_name)
    info = model_from_bento_store(config.model_name, tag) if tag else None
    if info is not None:
        return info
    raise RuntimeError(
        f"no model to serve: set MOVIEREC_MODEL_DIR, register models:/{config.model_name}"
        f"@{config.alias} in MLflow (`make run`), or serve a built Bento "
        "(`python -m bentos.build`, then `movierec serve --bento movierec:latest`)"
    )


def resolve_items_path(config: ServeConfig, data: dict[str, Any], model: ModelInfo) -> Path | None:
    """Where the items table is: env, params, the Bento's copy, then the processed data."""
    candidates = [os.environ.get("MOVIEREC_ITEMS"), config.items]
    if model.folder is not None:
        candidates.append(str(model.folder / "items.parquet"))
    dataset = data.get("dataset", "ml-100k")
    candidates.append(str(Path(data.get("processed_dir", "data/processed")) / dataset / "items.parquet"))
    for candidate in candidates:
        if candidate and Path(candidate).is_file():
            return Path(candidate)
    return None


def read_items(path: Path | None) -> pd.DataFrame | None:
    if path is None:
        logger.warning("no items table found: titles and years will be null")
        return None
    return pd.read_parquet(path)
