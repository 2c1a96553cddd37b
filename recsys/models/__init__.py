"""Every recommender variant, by name, behind the one ``Recommender`` protocol.

The registry (``recsys.models.registry``) imports model classes lazily, so that naming a
model never pulls in TensorFlow unless that model is the one used.
"""

from __future__ import annotations

from recsys.errors import NotFittedError
from recsys.models.base import BaseRecommender, ModelConfig
from recsys.models.protocol import RecList, Recommender, top_k
from recsys.models.registry import (
    COMPONENTS,
    MODELS,
    VARIANTS,
    UnknownModelError,
    create,
    load_model,
    model_class,
)
from recsys.models.storage import ModelLoadError, read_model_meta

__all__ = [
    "COMPONENTS",
    "MODELS",
    "VARIANTS",
    "BaseRecommender",
    "ModelConfig",
    "ModelLoadError",
    "NotFittedError",
    "RecList",
    "Recommender",
    "UnknownModelError",
    "create",
    "load_model",
    "model_class",
    "read_model_meta",
    "top_k",
]
