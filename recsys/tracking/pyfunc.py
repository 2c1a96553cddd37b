"""``RecommenderPyfunc``: every variant as one uniform MLflow pyfunc model.

Input: a frame with ``user_id`` (int) and optionally ``k`` (int, the list length; the first
row's value applies, default 10). Output: one row per recommendation with ``user_id``,
``item_id``, ``score`` and ``rank`` (1-based). Unknown users get the model's fallback.

The wrapped model is the folder written by ``BaseRecommender.save`` (artifact key
``model_dir``): arrays, JSON config and, for Keras models, their native ``.keras`` files, so
whatever loads ``models:/movie-recommender@champion`` can serve it without knowing which
variant it is.

This module imports MLflow at module level because the class subclasses
``mlflow.pyfunc.PythonModel``; import it only where MLflow is needed.
"""

from __future__ import annotations

import contextlib
import logging
import re
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import mlflow.pyfunc
import numpy as np
import pandas as pd

from recsys.data.schema import ITEM_ID, USER_ID
from recsys.models import load_model

MODEL_DIR_KEY = "model_dir"
DEFAULT_K = 10
OUTPUT_COLUMNS = (USER_ID, ITEM_ID, "score", "rank")
#: The packages a served model needs (named explicitly: MLflow's inference of requirements
#: loads the model in a subprocess, which is slow and imports TensorFlow for every variant).
BASE_REQUIREMENTS = ("numpy", "pandas", "scipy", "scikit-learn", "pyarrow", "pydantic")
KERAS_REQUIREMENTS = ("tensorflow-cpu",)


class RecommenderPyfunc(mlflow.pyfunc.PythonModel):  # type: ignore[misc,name-defined]
    """An MLflow pyfunc around any saved ``BaseRecommender``.

    After ``load_context``, ``recommender`` is the loaded ``BaseRecommender``.
    """

    def __init__(self) -> None:
        self.recommender: Any = None

    def load_context(self, context: Any) -> None:
        self.recommender = load_model(context.artifacts[MODEL_DIR_KEY])

    # ``model_input`` is left unannotated on purpose: MLflow reads predict's type hints to
    # build a schema, warns that ``Any`` gives none, and the signature is logged explicitly
    def predict(self, context: Any, model_input, params: dict[str, Any] | None = None) -> pd.DataFrame:
        """Top-``k`` items per user of ``model_input`` (see the module docstring)."""
        if self.recommender is None:
            self.load_context(context)
        frame = _as_frame(model_input)
        k = DEFAULT_K
        if params and params.get("k") is not None:
            k = int(params["k"])
        elif "k" in frame.columns and len(frame):
            k = int(frame["k"].iloc[0])
        users = [int(u) for u in pd.unique(frame[USER_ID])]
        recs = self.recommender.recommend(users, k=k)
        out = recs.frame.loc[:, list(OUTPUT_COLUMNS)]
        return out.astype({USER_ID: "int64", ITEM_ID: "int64", "score": "float64", "rank": "int64"})


def _as_frame(model_input: Any) -> pd.DataFrame:
    if isinstance(model_input, pd.DataFrame):
        frame = model_input
    elif isinstance(model_input, dict):
        frame = pd.DataFrame(model_input)
    else:
        frame = pd.DataFrame({USER_ID: np.asarray(model_input).reshape(-1)})
    if USER_ID not in frame.columns:
        raise ValueError(f"model input needs a {USER_ID!r} column, got {list(frame.columns)}")
    return frame


def input_example(user_ids: list[int], k: int = DEFAULT_K) -> pd.DataFrame:
    """The input example logged with every model: a few users and the list length."""
    return pd.DataFrame({USER_ID: np.asarray(user_ids, dtype=np.int64),
                         "k": np.full(len(user_ids), k, dtype=np.int64)})


def log_recommender(
    model_dir: str | Path,
    *,
    example_users: list[int],
    name: str = "model",
    k: int = DEFAULT_K,
) -> Any:
    """Log the saved model in ``model_dir`` as a ``RecommenderPyfunc`` in the active run.

    Returns:
        MLflow's ``ModelInfo`` (``model_uri``, ``model_id``...).
    """
    from mlflow.models import infer_signature

    model_dir = Path(model_dir)
    recommender = load_model(model_dir)
    example = input_example(example_users, k)
    requirements = list(BASE_REQUIREMENTS)
    if any(model_dir.rglob("*.keras")):
        requirements += list(KERAS_REQUIREMENTS)
    wrapper = RecommenderPyfunc()
    wrapper.recommender = recommender
    with quiet_mlflow_notices():
        signature = infer_signature(example, wrapper.predict(None, example))
        return mlflow.pyfunc.log_model(
            name=name,
            python_model=RecommenderPyfunc(),
            artifacts={MODEL_DIR_KEY: str(model_dir)},
            signature=signature,
            input_example=example,
            pip_requirements=requirements,
        )


#: MLflow's notices on every logged or loaded model that do not apply here: ids are never
#: missing (integer schema columns), the pickled class is this project's own (CloudPickle)
#: and pip's version is pinned by the lock file.
_NOTICES = ("Inferred schema contains integer",)
_NOTICE_LOGGERS = ("mlflow.pyfunc", "mlflow.utils.environment")


@contextlib.contextmanager
def quiet_mlflow_notices() -> Iterator[None]:
    """Silence the notices above while a model is logged or loaded (errors still show)."""
    loggers = [logging.getLogger(name) for name in _NOTICE_LOGGERS]
    levels = [logger.level for logger in loggers]
    with warnings.catch_warnings():
        for notice in _NOTICES:
            warnings.filterwarnings("ignore", message=f".*{re.escape(notice)}", category=UserWarning)
        for logger in loggers:
            logger.setLevel(logging.ERROR)
        try:
            yield
        finally:
            for logger, level in zip(loggers, levels, strict=True):
                logger.setLevel(level)
