"""Build the movierec Bento with the champion model captured inside it.

``build_bento()`` resolves the model the service would serve (``$MOVIEREC_MODEL_DIR`` or the
MLflow champion), saves it with its registry facts and the items table into the BentoML
model store as ``movie-recommender``, and builds ``bentos/bentofile.yaml`` with that model
attached. The Bento then serves on a machine without MLflow:
``bentoml serve movierec:latest``.

Run ``python -m bentos.build``.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
BENTOFILE = ROOT / "bentos" / "bentofile.yaml"


def capture_model(model_dir: str | Path | None = None, items: str | Path | None = None) -> str:
    """Save the model to serve (and its items table) into the BentoML model store; its tag."""
    import os

    import bentoml

    from bentos.service import (
        load_serve_config,
        model_from_folder,
        model_from_registry,
        resolve_items_path,
    )

    config, data = load_serve_config(ROOT / "params.yaml")
    folder = model_dir or os.environ.get("MOVIEREC_MODEL_DIR")
    info = (model_from_folder(Path(folder)) if folder
            else model_from_registry(config.model_name, config.alias))
    if info is None:
        raise RuntimeError(
            f"nothing to capture: set MOVIEREC_MODEL_DIR or register models:/"
            f"{config.model_name}@{config.alias} in MLflow"
        )
    items_path = Path(items) if items else resolve_items_path(config, data, info)
    metadata: dict[str, Any] = {
        "version": info.version, "alias": info.alias, "variant": info.variant,
        "metrics": info.metrics, "data_hash": info.data_hash, "run_id": info.run_id,
        "source": info.source,
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
                version: str | None = None) -> str:
    """Capture the model and build the Bento; returns the Bento tag (``movierec:<version>``)."""
    import bentoml
    import yaml

    model_tag = capture_model(model_dir, items)
    spec = yaml.safe_load(BENTOFILE.read_text())
    spec["models"] = [model_tag]
    with tempfile.TemporaryDirectory(prefix="movierec-bentofile-") as tmp:
        bentofile = Path(tmp) / "bentofile.yaml"
        bentofile.write_text(yaml.safe_dump(spec, sort_keys=False))
        bento = bentoml.bentos.build_bentofile(str(bentofile), build_ctx=str(ROOT),
                                               version=version)
    return str(bento.tag)


if __name__ == "__main__":  # pragma: no cover - thin script entry point
    print(build_bento())
