"""Neural Collaborative Filtering: GMF, MLP and their fusion NeuMF (Keras, imported lazily)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import numpy as np
from numpy.typing import NDArray
from pydantic import Field, field_validator
from scipy import sparse

from recsys.data.interactions import Interactions
from recsys.models import _keras
from recsys.models.base import BaseRecommender, ModelConfig
from recsys.sampling import as_rng

#: Gradient steps per compiled call: amortises Python overhead over small batches.
STEPS_PER_EXECUTION = 8


class NCFConfig(ModelConfig):
    """Attributes:
    variant: ``gmf`` (generalised matrix factorisation: element-wise product of
        embeddings), ``mlp`` (concatenated embeddings through ReLU layers) or ``neumf``
        (both, fused by one output layer).
    task: ``ranking`` learns implicit feedback (every rating is a positive, ``negatives``
        unobserved items are sampled per positive each epoch, binary cross-entropy);
        ``rating`` regresses the observed ratings with mean squared error.
    factors: embedding size of the GMF path.
    mlp_layers: widths of the MLP tower; the first is the concatenated user + item
        embedding (each half of it), the rest are ReLU layers.
    negatives: sampled negatives per positive (``ranking`` only).
    epochs: passes over the training data (negatives are resampled each pass).
    batch_size: samples per gradient step.
    learning_rate: Adam step size.
    l2: L2 penalty on the embeddings of each batch's users and items.
    seed: seeds the initialisation, the negative sampling and the batch order.
    """

    variant: Literal["gmf", "mlp", "neumf"] = "neumf"
    task: Literal["ranking", "rating"] = "ranking"
    factors: int = Field(default=32, ge=1)
    mlp_layers: tuple[int, ...] = (64, 32, 16)
    negatives: int = Field(default=4, ge=1)
    epochs: int = Field(default=4, ge=1)
    batch_size: int = Field(default=1024, ge=1)
    learning_rate: float = Field(default=0.002, gt=0)
    l2: float = Field(default=0.0, ge=0)
    seed: int | None = 42

    @field_validator("mlp_layers")
    @classmethod
    def _check_layers(cls, layers: tuple[int, ...]) -> tuple[int, ...]:
        if not layers or any(width < 1 for width in layers):
            raise ValueError("mlp_layers needs at least one positive width")
        if layers[0] % 2:
            raise ValueError("mlp_layers[0] is the user + item embedding size: make it even")
        return layers


class _PredictsRatings:
    """``predicts_ratings`` that follows the instance's ``task`` (False on the class)."""

    def __get__(self, instance: NCF | None, owner: type) -> bool:
        if instance is None:
            return False
        return instance.config.task == "rating"


class NCF(BaseRecommender):
    """Neural Collaborative Filtering (He, Liao, Zhang, Nie, Hu and Chua, "Neural
    Collaborative Filtering", WWW 2017, doi:10.1145/3038912.3052569).

    Users and items are embedded; GMF multiplies the two embeddings element-wise, MLP
    concatenates (separate) embeddings and passes them through ReLU layers, and NeuMF
    concatenates both paths before one output unit. With ``task="ranking"`` the model
    learns implicit feedback as in the paper: binary cross-entropy on observed pairs and
    ``negatives`` uniformly sampled unobserved items per positive, resampled every epoch
    (NeuMF is trained from scratch here; the paper's GMF/MLP pre-training is left out to
    keep training within a minute). ``task="rating"`` swaps in a linear output, started at
    the mean rating, trained with mean squared error, so scores are rating predictions.

    Fitted attributes:
        network_: the Keras model mapping (user index, item index) to a score.
        rating_range_: (min, max) training rating; rating predictions are clipped to it.
    """

    name = "ncf"
    config: NCFConfig
    predicts_ratings = _PredictsRatings()  # type: ignore[assignment]

    # -- training ------------------------------------------------------------------------
    def _fit(self, data: Interactions) -> None:
        cfg = self.config
        keras = _keras.import_keras()
        seed = _keras.seed_everything(cfg.seed)
        rng = as_rng(seed)
        ratings = data.matrix().tocoo()
        users = ratings.row.astype(np.int32)
        items = ratings.col.astype(np.int32)
        values = ratings.data.astype(np.float32)
        self.rating_range_ = (float(values.min()), float(values.max()))
        self.network_ = build_network(
            keras, data.n_users, data.n_items, cfg, seed=seed, output_bias=float(values.mean())
        )
        ranking = cfg.task == "ranking"
        self.network_.compile(
            optimizer=keras.optimizers.Adam(learning_rate=cfg.learning_rate),
            loss="binary_crossentropy" if ranking else "mean_squared_error",
            steps_per_execution=STEPS_PER_EXECUTION,
        )

        def draw() -> tuple[NDArray[np.int32], NDArray[np.int32], NDArray[np.float32]]:
            if ranking:
                return sample_training_set(self.seen_, users, items, cfg.negatives, rng)
            order = rng.permutation(len(users))
            return users[order], items[order], values[order]

        # Every epoch gets freshly drawn samples (new negatives, new order), all drawn up
        # front and fed in order through one ``fit`` call: Keras's per-call set-up dominates
        # on small data, and a dataset that redraws in ``on_epoch_end`` races with Keras's
        # prefetching of the next epoch, which made seeded fits differ.
        epochs = [_whole_batches(draw(), cfg.batch_size) for _ in range(cfg.epochs)]
        users_all, items_all, labels_all = (
            np.concatenate([e[part] for e in epochs]) for part in range(3)
        )
        batches = _in_batches(keras, users_all, items_all, labels_all, cfg.batch_size)
        self.network_.fit(batches, epochs=1, verbose=0)
        self._check_weights()

    def _check_weights(self) -> None:
        for weight in self.network_.get_weights():
            if not np.all(np.isfinite(weight)):
                raise RuntimeError(
                    "NCF training diverged (non-finite weights): lower learning_rate"
                )

    # -- scoring -------------------------------------------------------------------------
    def _score_users(self, user_index: NDArray[np.int64]) -> NDArray[np.float64]:
        n_items = len(self.items_)
        pair_users = np.repeat(user_index.astype(np.int32), n_items)
        pair_items = np.tile(np.arange(n_items, dtype=np.int32), len(user_index))
        scores = _keras.predict_batches(self.network_, [pair_users, pair_items])
        return self._finish(scores).reshape(len(user_index), n_items)

    def _predict_pairs(
        self, user_index: NDArray[np.int64], item_index: NDArray[np.int64]
    ) -> NDArray[np.float64]:
        scores = _keras.predict_batches(
            self.network_, [user_index.astype(np.int32), item_index.astype(np.int32)]
        )
        return self._finish(scores)

    def _finish(self, scores: NDArray[np.float64]) -> NDArray[np.float64]:
        scores = scores.reshape(-1)
        if self.config.task == "rating":
            low, high = self.rating_range_
            scores = np.clip(scores, low, high)
        return scores

    def _item_vectors(self) -> NDArray[np.float64]:
        parts = [
            np.asarray(self.network_.get_layer(name).embeddings)
            for name in ("gmf_item", "mlp_item")
            if name in {layer.name for layer in self.network_.layers}
        ]
        return np.concatenate(parts, axis=1).astype(np.float64)

    # -- persistence ---------------------------------------------------------------------
    def _state(self) -> dict[str, Any]:
        return {"rating_range": np.asarray(self.rating_range_, dtype=np.float64)}

    def _save_extra(self, folder: Path) -> None:
        _keras.save_network(self.network_, folder)

    def _set_state(self, arrays: dict[str, Any], folder: Path) -> None:
        low, high = (float(v) for v in arrays["rating_range"])
        self.rating_range_ = (low, high)
        self.network_ = _keras.load_network(folder)


def build_network(
    keras: Any, n_users: int, n_items: int, cfg: NCFConfig, *, seed: int, output_bias: float
) -> Any:
    """The GMF / MLP / NeuMF Keras model: ``[user_index, item_index] -> score``.

    Embeddings start from N(0, 0.01) as in the paper; each layer gets its own seed.
    """
    seeds = iter(range(seed, seed + 100))

    def normal() -> Any:
        return keras.initializers.RandomNormal(stddev=0.01, seed=next(seeds))

    reg = keras.regularizers.L2(cfg.l2) if cfg.l2 > 0 else None
    user = keras.Input(shape=(), dtype="int32", name="user")
    item = keras.Input(shape=(), dtype="int32", name="item")

    def embed(name: str, count: int, size: int, index: Any) -> Any:
        layer = keras.layers.Embedding(
            count, size, embeddings_initializer=normal(), embeddings_regularizer=reg, name=name
        )
        return layer(index)

    paths = []
    if cfg.variant in ("gmf", "neumf"):
        paths.append(
            keras.layers.Multiply(name="gmf")(
                [
                    embed("gmf_user", n_users, cfg.factors, user),
                    embed("gmf_item", n_items, cfg.factors, item),
                ]
            )
        )
    if cfg.variant in ("mlp", "neumf"):
        half = cfg.mlp_layers[0] // 2
        hidden = keras.layers.Concatenate(name="mlp_input")(
            [embed("mlp_user", n_users, half, user), embed("mlp_item", n_items, half, item)]
        )
        for depth, width in enumerate(cfg.mlp_layers[1:], start=1):
            hidden = keras.layers.Dense(
                width,
                activation="relu",
                kernel_initializer=keras.initializers.GlorotUniform(seed=next(seeds)),
                name=f"mlp_{depth}",
            )(hidden)
        paths.append(hidden)
    joined = paths[0] if len(paths) == 1 else keras.layers.Concatenate(name="neumf")(paths)
    ranking = cfg.task == "ranking"
    score = keras.layers.Dense(
        1,
        activation="sigmoid" if ranking else None,
        kernel_initializer=keras.initializers.LecunUniform(seed=next(seeds)),
        bias_initializer=keras.initializers.Constant(0.0 if ranking else output_bias),
        name="score",
    )(joined)
    score = keras.layers.Reshape((), name="flatten_score")(score)
    return keras.Model([user, item], score, name=f"ncf_{cfg.variant}")


def _in_batches(
    keras: Any,
    users: NDArray[np.int32],
    items: NDArray[np.int32],
    labels: NDArray[np.float32],
    batch_size: int,
) -> Any:
    """A Keras ``PyDataset`` of consecutive batches of fixed arrays.

    (Handing the arrays to ``fit`` directly trains measurably worse here: Keras's array
    adapter feeds the integer ids differently; the checkerboard test catches it.)
    """

    class Batches(keras.utils.PyDataset):  # type: ignore[misc,name-defined]
        def __len__(self) -> int:
            return int(np.ceil(len(labels) / batch_size))

        def __getitem__(
            self, index: int
        ) -> tuple[tuple[NDArray[np.int32], NDArray[np.int32]], NDArray[np.float32]]:
            part = slice(index * batch_size, (index + 1) * batch_size)
            return (users[part], items[part]), labels[part]

    return Batches()


def _whole_batches(
    sample: tuple[NDArray[np.int32], NDArray[np.int32], NDArray[np.float32]], batch_size: int
) -> tuple[NDArray[np.int32], NDArray[np.int32], NDArray[np.float32]]:
    """Pad an epoch's samples to whole batches by wrapping around to its start: one batch
    shape (one graph trace), and on tiny data every epoch still takes a full batch step."""
    n = len(sample[2])
    take = np.arange(int(np.ceil(n / batch_size)) * batch_size) % n
    return sample[0][take], sample[1][take], sample[2][take]


def sample_training_set(
    seen: sparse.csr_matrix,
    users: NDArray[np.int32],
    items: NDArray[np.int32],
    negatives: int,
    rng: np.random.Generator,
) -> tuple[NDArray[np.int32], NDArray[np.int32], NDArray[np.float32]]:
    """Positives plus ``negatives`` unobserved items per positive, shuffled.

    Negatives are drawn uniformly from all items and redrawn where they hit an observed
    pair (a few rounds; a user who has seen nearly everything may keep a rare collision).
    """
    n_items = seen.shape[1]
    observed = seen.tocoo()
    seen_keys = np.sort(observed.row.astype(np.int64) * n_items + observed.col.astype(np.int64))
    neg_users = np.repeat(users, negatives)
    neg_items = rng.integers(n_items, size=neg_users.size).astype(np.int32)
    for _ in range(10):
        keys = neg_users.astype(np.int64) * n_items + neg_items
        pos = np.clip(np.searchsorted(seen_keys, keys), 0, len(seen_keys) - 1)
        hit = seen_keys[pos] == keys
        if not hit.any():
            break
        neg_items[hit] = rng.integers(n_items, size=int(hit.sum()))
    all_users = np.concatenate([users, neg_users])
    all_items = np.concatenate([items, neg_items])
    labels = np.concatenate([np.ones(len(users), np.float32), np.zeros(len(neg_users), np.float32)])
    order = rng.permutation(len(all_users))
    return all_users[order], all_items[order], labels[order]
