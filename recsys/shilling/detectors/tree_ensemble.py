"""A fitted gradient-boosting classifier as plain arrays: saved and evaluated without pickle."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pandas as pd
from numpy.typing import NDArray
from threadpoolctl import threadpool_limits


class TreeEnsemble:
    """A fitted binary ``HistGradientBoostingClassifier`` as plain arrays.

    Persisted as ``.npz`` (``allow_pickle=False``) and evaluated with numpy, so the shipped
    reference model needs neither pickle nor a matching scikit-learn version.
    """

    FIELDS: ClassVar[tuple[str, ...]] = (
        "feature_idx", "num_threshold", "missing_go_to_left", "left", "right", "is_leaf", "value",
    )

    def __init__(self, arrays: dict[str, NDArray[Any]], feature_names: list[str]) -> None:
        self.arrays = arrays
        self.feature_names = feature_names

    @classmethod
    def from_sklearn(cls, model: Any, feature_names: list[str]) -> TreeEnsemble:
        trees = [predictors[0].nodes for predictors in model._predictors]
        sizes = np.array([len(t) for t in trees], dtype=np.int64)
        arrays: dict[str, NDArray[Any]] = {
            name: np.concatenate([t[name] for t in trees]) for name in cls.FIELDS
        }
        arrays["offsets"] = np.r_[0, np.cumsum(sizes)[:-1]].astype(np.int64)
        arrays["baseline"] = np.asarray(model._baseline_prediction, dtype=np.float64).reshape(-1)
        return cls(arrays, feature_names)

    def predict_proba(self, x: NDArray[np.float64]) -> NDArray[np.float64]:
        """Probability of the positive class for each row of ``x``."""
        a = self.arrays
        raw = np.full(len(x), float(a["baseline"][0]))
        rows = np.arange(len(x))
        for offset in a["offsets"]:
            node = np.full(len(x), int(offset))
            active = ~a["is_leaf"][node].astype(bool)
            while active.any():
                n = node[active]
                value = x[rows[active], a["feature_idx"][n]]
                left = np.where(
                    np.isnan(value), a["missing_go_to_left"][n].astype(bool),
                    value <= a["num_threshold"][n],
                )
                node[active] = offset + np.where(left, a["left"][n], a["right"][n])
                active = ~a["is_leaf"][node].astype(bool)
            raw += a["value"][node]
        return 1.0 / (1.0 + np.exp(-raw))

    def save(self, path: str | Path, metadata: dict[str, Any]) -> None:
        """Write ``<path>.npz`` (arrays) and ``<path>.json`` (feature names, metadata)."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        np.savez_compressed(path.with_suffix(".npz"), **self.arrays)  # type: ignore[arg-type]
        path.with_suffix(".json").write_text(
            json.dumps({"feature_names": self.feature_names, **metadata}, indent=2) + "\n"
        )

    @classmethod
    def load(cls, path: str | Path) -> TreeEnsemble:
        path = Path(path)
        meta = json.loads(path.with_suffix(".json").read_text())
        with np.load(path.with_suffix(".npz"), allow_pickle=False) as npz:
            arrays = {key: npz[key] for key in npz.files}
        return cls(arrays, list(meta["feature_names"]))


def positive_proba(model: Any, feats: pd.DataFrame) -> NDArray[np.float64]:
    """Probability of the positive class: a ``TreeEnsemble`` or a fitted scikit-learn model."""
    if isinstance(model, TreeEnsemble):
        return model.predict_proba(feats.to_numpy(dtype=np.float64))
    with threadpool_limits(limits=1):
        return np.asarray(model.predict_proba(feats.to_numpy())[:, 1], dtype=np.float64)
