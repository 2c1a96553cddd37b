"""Build the movierec Bento with the champion model captured inside it.

``build_bento()`` resolves the model to serve (a given model folder or registry version,
else ``$MOVIEREC_MODEL_DIR`` or the MLflow champion of ``params.yaml``'s ``serve:``
section), saves it with its registry facts and the items table into the BentoML model
store under the registered model's name, and builds ``bentos/bentofile.yaml`` with that
model attached. The Bento then serves on a machine without MLflow:
``bentoml serve movierec:latest``.

Run ``python -m bentos.build``.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import yaml

from bentos.model_source import (
    DATASET_LABEL,
    load_registry_version,
    model_from_folder,
    model_from_registry,
    resolve_items_path,
)
from recsys.serving.config import load_serve_config
from recsys.serving.model import ModelInfo

ROOT = Path(__file__).resolve().parents[1]
BENTOFILE = ROOT / "bentos" / "bentofile.yaml"
#: Loading from the registry exports the store's URI into these (MLflow's
#: ``set_tracking_uri`` / ``set_registry_uri`` do); a build restores them.
MLFLOW_URI_ENV = ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI")


@contextmanager
def _tracking_uri(uri: str | None) -> Iterator[None]:
    """``$MLFLOW_TRACKING_URI`` set to ``uri`` (if given) meanwhile; afterwards the MLflow URI
    variables are as they were, so a build leaves the caller's environment alone."""
    before = {name: os.environ.get(name) for name in MLFLOW_URI_ENV}
    if uri:
        os.environ["MLFLOW_TRACKING_URI"] = uri
    try:
        yield
    finally:
        for name, value in before.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def _registered_version(model_name: str, version: str, tracking_uri: str | None) -> Any:
    """``models:/<model_name>/<version>`` as the service's ``ModelInfo``."""

    return load_registry_version(model_name, version=version, tracking_uri=tracking_uri)


def capture_model(model_dir: str | Path | None = None, items: str | Path | None = None, *,
                  model_version: str | None = None, tracking_uri: str | None = None,
                  params_path: str | Path | None = None, dataset: str | None = None) -> str:
    """Save the model to serve (and its items table) into the BentoML model store; its tag.

    Args:
        model_dir: a saved model folder to capture.
        items: the items table (default: as the service resolves it).
        model_version: the registry version to capture (``models:/<name>/<version>``)
            instead of whatever holds the alias now.
        tracking_uri: the MLflow store (default ``$MLFLOW_TRACKING_URI`` / ``mlflow.db``);
            the environment is left as it was.
        params_path: the parameter file whose ``serve:`` section names the registered
            model and alias (default ``params.yaml`` of the project).
        dataset: the dataset whose registered model is captured (default ``data.dataset``
            of ``params_path``): a pipeline run with ``--dataset`` captures that dataset's.
    """
    import bentoml

    config, data = load_serve_config(params_path or ROOT / "params.yaml", dataset)
    folder = model_dir or (None if model_version else os.environ.get("MOVIEREC_MODEL_DIR"))
    info: ModelInfo | None
    with _tracking_uri(tracking_uri):
        if folder:
            info = model_from_folder(Path(folder))
        elif model_version:
            info = _registered_version(config.model_name, str(model_version), tracking_uri)
        else:
            info = model_from_registry(config.model_name, config.alias)
    if info is None:
        raise RuntimeError(
            f"nothing to capture: set MOVIEREC_MODEL_DIR or register models:/"
            f"{config.model_name}@{config.alias} in MLflow"
        )
    items_path = Path(items) if items else resolve_items_path(config, data, info)
    metadata: dict[str, Any] = {
        "version": info.version, "alias": info.alias, "variant": info.variant,
        "metrics": info.metrics, "data_hash": info.data_hash, "run_id": info.run_id,
        "source": info.source, "dataset": info.dataset,
    }
    with bentoml.models.create(
        config.model_name,
        labels={"variant": str(info.variant), "version": str(info.version)},
        metadata={k: v for k, v in metadata.items() if v is not None},
    ) as stored:
        info.recommender.save(Path(stored.path) / "recommender")
        if items_path is not None:
            shutil.copyfile(items_path, Path(stored.path) / "items.parquet")
    return str(stored.tag)


def build_bento(model_dir: str | Path | None = None, items: str | Path | None = None,
                version: str | None = None, *, model_version: str | None = None,
                tracking_uri: str | None = None, params_path: str | Path | None = None,
                dataset: str | None = None) -> str:
    """Capture the model and build the Bento; returns the Bento tag (``movierec:<version>``).

    ``version`` is the Bento's own version; ``model_version``, ``tracking_uri``,
    ``params_path`` and ``dataset`` choose the model as in ``capture_model``. The Bento
    carries the project's ``params.yaml``, whose ``data.dataset`` may be another dataset's:
    its ``dataset`` label names the one it was built for, and its service serves that one.
    """
    import bentoml

    dataset = load_serve_config(params_path or ROOT / "params.yaml", dataset)[1]["dataset"]
    model_tag = capture_model(model_dir, items, model_version=model_version,
                              tracking_uri=tracking_uri, params_path=params_path,
                              dataset=dataset)
    spec = yaml.safe_load(BENTOFILE.read_text())
    spec["models"] = [model_tag]
    spec["labels"] = {**spec.get("labels", {}), DATASET_LABEL: dataset}
    with tempfile.TemporaryDirectory(prefix="movierec-bentofile-") as tmp:
        bentofile = Path(tmp) / "bentofile.yaml"
        bentofile.write_text(yaml.safe_dump(spec, sort_keys=False))
        bento = bentoml.bentos.build_bentofile(str(bentofile), build_ctx=str(ROOT),
                                               version=version)
    return str(bento.tag)


def bento_exists(tag: str) -> bool:
    """Whether the Bento ``tag`` is (still) in the BentoML store."""
    import bentoml
    from bentoml.exceptions import NotFound

    try:
        bentoml.get(tag)
    except NotFound:
        return False
    return True


if __name__ == "__main__":  # pragma: no cover - thin script entry point
    print(build_bento())
