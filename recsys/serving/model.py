"""A model ready to serve: the recommender, its registry facts, and the catalogue check."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from recsys.data.schema import ITEM_ID
from recsys.models.base import BaseRecommender


class CatalogueMismatch(ValueError):
    """The model's movies are not the movies of the items table being served."""


@dataclass(frozen=True)
class ModelInfo:
    """A loaded recommender and what the registry says about it.

    ``source`` is shown on ``/model``: it names where the model came from without the
    server's absolute paths (``folder:<name>``, ``models:/<name>@<alias>``, ``bento:<tag>``).
    """

    recommender: BaseRecommender
    version: str
    source: str
    alias: str | None = None
    variant: str | None = None
    metrics: dict[str, float] = field(default_factory=dict)
    data_hash: str | None = None
    run_id: str | None = None
    folder: Path | None = None
    dataset: str | None = None


#: Example ids named in a mismatch error.
SHOWN_IDS = 5


def check_catalogue(model: ModelInfo, items: pd.DataFrame) -> None:
    """Refuse a model trained on another catalogue than ``items`` (e.g. an ML-100K champion
    served with ml-latest-small's titles: the ids overlap but name other movies).

    Every movie the model can recommend must be in the items table.

    Raises:
        CatalogueMismatch: with how many of the model's ids are missing and examples.
    """
    model_ids = np.asarray(model.recommender.items_.ids, dtype=np.int64)
    known = np.isin(model_ids, items[ITEM_ID].to_numpy(dtype=np.int64))
    if known.all():
        return
    missing = model_ids[~known]
    raise CatalogueMismatch(
        f"model {model.variant or model.recommender.name} (version {model.version}) does not "
        f"match the items table: {missing.size:,} of its {model_ids.size:,} movie ids are not "
        f"in it (e.g. {', '.join(str(i) for i in missing[:SHOWN_IDS])}); serve the items of "
        f"the dataset the model was trained on{f' ({model.dataset})' if model.dataset else ''}"
    )
