"""NCF: the contract for NeuMF (ranking and rating tasks), plus what is particular to it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from pydantic import ValidationError
from scipy import sparse

from recsys.models import create, load_model
from recsys.models.ncf import NCF, sample_training_set
from recsys.testing import Checkerboard, RecommenderContract

pytestmark = pytest.mark.model

#: Small and fast on the 19 x 16 checkerboard (the defaults are tuned for ML-100K). Three
#: blocks need only a few factors; more let the model memorise the sampled negatives.
SMALL: dict[str, Any] = {
    "factors": 3,
    "mlp_layers": (8, 4),
    "negatives": 4,
    "epochs": 60,
    "batch_size": 32,
    "learning_rate": 0.02,
}
#: The rating task needs wider embeddings (with an L2 penalty) to separate 4-5 from 1 stars.
SMALL_RATING: dict[str, Any] = {
    "factors": 8,
    "mlp_layers": (16, 8),
    "epochs": 100,
    "batch_size": 32,
    "learning_rate": 0.01,
    "l2": 0.01,
    "task": "rating",
}


class TestNeuMFRanking(RecommenderContract):
    fresh_process_fits = True
    name = "ncf"
    params = SMALL
    # measured 0.50-0.56 over seeds; a random ranking of the ~11 unseen items gets ~0.09
    quality_floor = 0.4


class TestNeuMFRating(RecommenderContract):
    fresh_process_fits = True
    name = "ncf"
    params = SMALL_RATING
    # measured 0.78
    quality_floor = 0.5


@pytest.mark.parametrize("variant", ["gmf", "mlp"])
def test_single_path_variants_find_the_held_out_item(
    checkerboard: Checkerboard, variant: str
) -> None:
    model = create("ncf", **SMALL, variant=variant).fit(checkerboard.interactions)
    assert isinstance(model, NCF)
    layers = {layer.name for layer in model.network_.layers}
    assert ("gmf_item" in layers) == (variant == "gmf")
    assert ("mlp_item" in layers) == (variant == "mlp")
    users = checkerboard.rated_users
    recs = model.recommend(users, k=1)
    hits = sum(recs.items_of(u) == [checkerboard.held_out[u]] for u in users)
    # measured 0.83 (gmf) and 0.94 (mlp)
    assert hits / len(users) >= 0.6


def test_predicts_ratings_follows_the_task(checkerboard: Checkerboard, tmp_path: Path) -> None:
    assert NCF.predicts_ratings is False
    assert create("ncf").predicts_ratings is False
    model = create("ncf", **SMALL_RATING)
    assert model.predicts_ratings is True
    model.fit(checkerboard.interactions)
    folder = model.save(tmp_path / "rating")
    assert json.loads((folder / "model.json").read_text())["predicts_ratings"] is True
    assert (folder / "network.keras").is_file()
    assert load_model(folder).predicts_ratings is True
    ratings = checkerboard.ratings
    truth = ratings["rating"].to_numpy()
    predictions = model.predict(ratings["user_id"], ratings["item_id"])
    assert predictions.min() >= truth.min() and predictions.max() <= truth.max()
    rmse = np.sqrt(np.mean((predictions - truth) ** 2))
    assert rmse < 0.5 * np.std(truth), "the rating task must fit the training ratings"


def test_negative_sampling_avoids_observed_pairs() -> None:
    rng = np.random.default_rng(0)
    seen = sparse.random(50, 200, density=0.1, format="csr", random_state=1)
    seen.data[:] = 1.0
    coo = seen.tocoo()
    users, items = coo.row.astype(np.int32), coo.col.astype(np.int32)
    x_users, x_items, labels = sample_training_set(seen, users, items, 3, rng)
    assert len(x_users) == len(x_items) == len(labels) == 4 * len(users)
    assert labels.sum() == len(users)
    negative = labels == 0
    observed = np.asarray(seen[x_users[negative], x_items[negative]]).ravel()
    assert not observed.any(), "a sampled negative is an observed pair"
    positive_pairs = set(zip(x_users[~negative].tolist(), x_items[~negative].tolist(), strict=True))
    assert positive_pairs == set(zip(users.tolist(), items.tolist(), strict=True))


def test_config_validation() -> None:
    with pytest.raises(ValidationError):
        create("ncf", variant="transformer")
    with pytest.raises(ValidationError):
        create("ncf", mlp_layers=(15, 8))
    with pytest.raises(ValidationError):
        create("ncf", negatives=0)


@pytest.mark.parametrize("module", ["recsys.models.ncf", "recsys.models.autoencoder"])
def test_importing_the_model_does_not_import_tensorflow(module: str) -> None:
    code = (
        f"import sys, {module}, recsys.models; recsys.models.create({module.split('.')[-1]!r}); "
        "print(sorted(m for m in ('tensorflow', 'keras') if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )
    assert out.stdout.strip() == "[]"
