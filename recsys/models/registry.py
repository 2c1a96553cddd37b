"""The one model registry: every recommender by name, imported on first use.

Classes are imported lazily so that naming a model never pulls in TensorFlow unless that
model is the one used.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from recsys.models.base import BaseRecommender
from recsys.models.storage import ModelLoadError, read_model_meta

#: name -> "module:Class". The order is the order of leaderboards and the benchmark.
MODELS: dict[str, str] = {
    "popularity": "recsys.models.popularity:Popularity",
    "baseline": "recsys.models.baseline:BiasedBaseline",
    "user_knn": "recsys.models.user_knn:UserKNN",
    "item_knn": "recsys.models.item_knn:ItemKNN",
    "ease": "recsys.models.ease:EASE",
    "sparse_ease": "recsys.models.sparse_ease:SparseEASE",
    "svd": "recsys.models.svd:TruncatedSVDRecommender",
    "mf": "recsys.models.mf:BiasedMF",
    "ials": "recsys.models.ials:ImplicitALS",
    "autoencoder": "recsys.models.autoencoder:AutoRec",
    "ncf": "recsys.models.ncf:NCF",
    "content_tfidf": "recsys.models.content_tfidf:ContentTFIDF",
    "content_svm": "recsys.models.content_svm:ContentSVM",
    "hybrid": "recsys.models.hybrid:Hybrid",
    "user_ease": "recsys.models.user_ease:UserEASE",
    "rp3beta": "recsys.models.rp3beta:RP3Beta",
    "session_ease": "recsys.models.session_ease:SessionEASE",
}

#: Registered models that serve as parts of the hybrid's blend and are not trained as
#: variants of their own unless named (dense ``users x users`` weights in ``user_ease``).
COMPONENTS: frozenset[str] = frozenset({"user_ease", "rp3beta", "session_ease"})

#: The variants a leaderboard or the accuracy benchmark trains when none are named.
VARIANTS: tuple[str, ...] = tuple(name for name in MODELS if name not in COMPONENTS)


class UnknownModelError(ValueError):
    """A model name that is not registered."""


def check_names(names: Iterable[str]) -> None:
    """Raise :class:`UnknownModelError` naming every name of ``names`` that is not a model
    (what a configuration key listing variants must hold)."""
    unknown = [name for name in names if name not in MODELS]
    if unknown:
        raise UnknownModelError(f"unknown model(s) {', '.join(map(repr, unknown))}; "
                                f"choose from: {', '.join(MODELS)}")


def model_class(name: str) -> type[BaseRecommender]:
    """The class registered as ``name`` (imported on first use)."""
    try:
        target = MODELS[name]
    except KeyError:
        raise UnknownModelError(
            f"unknown model {name!r}; choose one of: {', '.join(MODELS)}"
        ) from None
    module, _, attr = target.partition(":")
    cls = getattr(importlib.import_module(module), attr)
    return cls  # type: ignore[no-any-return]


def create(name: str, **params: Any) -> BaseRecommender:
    """A new, unfitted model ``name`` configured by ``params`` (validated by its config)."""
    return model_class(name)(**params)


def load_model(folder: str | Path) -> BaseRecommender:
    """Load any saved model, whatever its variant.

    Raises:
        ModelLoadError: naming the folder for a missing, corrupt, unknown or unsupported model.
    """
    meta = read_model_meta(folder)
    try:
        cls = model_class(meta["model"])
    except UnknownModelError as exc:
        raise ModelLoadError(f"{folder}: {exc}") from None
    except ImportError as exc:
        raise ModelLoadError(f"{folder}: model {meta['model']!r} cannot be loaded: {exc}") from None
    return cls.load(folder)
