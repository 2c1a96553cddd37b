"""Every recommender variant, by name, behind the one ``Recommender`` protocol.

The registry (``recsys.models.registry``) imports model classes lazily, so that naming a
model never pulls in TensorFlow unless that model is the one used.
"""

from __future__ import annotations

from recsys.errors import NotFittedError
from recsys.models.base import (
    BaseRecommender,
    ModelConfig,
    ModelLoadError,
    RecList,
    Recommender,
    read_model_meta,
    top_k,
)
from recsys.models.registry import (
    COMPONENTS,
    MODELS,
    VARIANTS,
    UnknownModelError,
    create,
    load_model,
    model_class,
)

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
