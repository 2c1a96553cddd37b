"""The saved-model folder: ``model.json`` (format, model name, config) beside
``arrays.npz`` (no pickle), and the sparse-matrix helpers for the arrays."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray
from scipy import sparse

FORMAT_VERSION = 1
MODEL_FILE = "model.json"
ARRAYS_FILE = "arrays.npz"


class ModelLoadError(ValueError):
    """A model folder that cannot be loaded: missing, corrupt or of an unsupported format."""


def read_model_meta(folder: str | Path) -> dict[str, Any]:
    """The checked ``model.json`` of a saved model folder.

    Raises:
        ModelLoadError: naming the folder when the file is missing, not a JSON object, or of
            a format this version cannot read.
    """
    folder = Path(folder)
    path = folder / MODEL_FILE
    if not path.is_file():
        raise ModelLoadError(f"{folder}: no saved model here ({MODEL_FILE} missing; "
                             "run `movierec fit` first)")
    try:
        meta = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise ModelLoadError(f"{folder}: {MODEL_FILE} is not readable JSON ({exc})") from None
    if not isinstance(meta, dict) or not isinstance(meta.get("model"), str) \
            or not isinstance(meta.get("config"), dict):
        raise ModelLoadError(f"{folder}: {MODEL_FILE} is not a saved model's description "
                             "(needs \"model\" and \"config\")")
    if meta.get("format") != FORMAT_VERSION:
        raise ModelLoadError(f"{folder}: unsupported model format {meta.get('format')!r} "
                             f"(this version reads format {FORMAT_VERSION}); refit the model")
    return meta


def save_sparse(prefix: str, matrix: sparse.spmatrix) -> dict[str, NDArray[Any]]:
    csr = sparse.csr_matrix(matrix)
    return {
        f"{prefix}.data": csr.data,
        f"{prefix}.indices": csr.indices,
        f"{prefix}.indptr": csr.indptr,
        f"{prefix}.shape": np.asarray(csr.shape, dtype=np.int64),
    }


def load_sparse(prefix: str, arrays: dict[str, NDArray[Any]]) -> sparse.csr_matrix:
    return sparse.csr_matrix(
        (arrays[f"{prefix}.data"], arrays[f"{prefix}.indices"], arrays[f"{prefix}.indptr"]),
        shape=tuple(int(x) for x in arrays[f"{prefix}.shape"]),
    )
