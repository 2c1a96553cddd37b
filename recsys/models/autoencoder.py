"""AutoRec: an item-based autoencoder that reconstructs each item's column of ratings."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray
from pydantic import Field
from scipy import sparse

from recsys.data.interactions import Interactions
from recsys.models import _keras
from recsys.models.base import BaseRecommender, ModelConfig
from recsys.models.storage import load_sparse, save_sparse
from recsys.sampling import as_rng


class AutoRecConfig(ModelConfig):
    """Attributes:
    hidden: size of the item code (the paper's ``k``; 500 in the paper).
    l2: the paper's ``lambda``: the objective is the squared error on observed ratings
        plus ``lambda / 2 * (||W||^2 + ||V||^2)``.
    epochs: passes over the items.
    batch_size: items per gradient step (their rating rows are densified per batch).
    learning_rate: Adam step size (the paper used Rprop; Adam reaches the same error in a
        few seconds here).
    seed: seeds the initialisation and the batch order.
    """

    hidden: int = Field(default=500, ge=1)
    l2: float = Field(default=200.0, ge=0)
    epochs: int = Field(default=20, ge=1)
    batch_size: int = Field(default=64, ge=1)
    learning_rate: float = Field(default=0.002, gt=0)
    seed: int | None = 42


class AutoRec(BaseRecommender):
    """I-AutoRec (Sedhain, Menon, Sanner and Xie, "AutoRec: Autoencoders Meet
    Collaborative Filtering", WWW 2015 companion, doi:10.1145/2740908.2742726).

    Each item is the vector of its ratings by all users (zero where unobserved); an
    autoencoder ``h(r) = W sigmoid(V r + mu) + b`` is trained to reconstruct it, with the
    error counted on observed ratings only. The prediction for ``(u, i)`` is entry ``u`` of
    item ``i``'s reconstruction, clipped to the rating range; recommendations rank items by
    it. Training feeds the sparse item x user matrix a batch of rows at a time, so the full
    matrix is never dense; after training the item codes ``sigmoid(V r_i + mu)`` are kept,
    and a batch of users is scored as ``codes @ W[:, users] + b[users]`` in NumPy.

    A visitor (``recommend_for_history``) is folded in by solving the ridge regression
    the decoder solves for a known user: ratings ~ ``codes @ w + b`` with the paper's
    ``lambda / 2`` penalty, centred on the global mean.

    Fitted attributes:
        network_: the Keras autoencoder (input and output of length ``n_users``).
        item_ratings_: the training ratings, item x user CSR (the autoencoder's inputs).
        codes_: ``(n_items, hidden)`` item codes.
        decoder_weights_: ``(hidden, n_users)`` decoder matrix ``W``.
        decoder_bias_: ``(n_users,)`` decoder bias ``b``.
        rating_range_: (min, max) training rating; predictions are clipped to it.
    """

    name = "autoencoder"
    config: AutoRecConfig
    predicts_ratings = True

    # -- training ------------------------------------------------------------------------
    def _fit(self, data: Interactions) -> None:
        cfg = self.config
        keras = _keras.import_keras()
        seed = _keras.seed_everything(cfg.seed)
        rng = as_rng(seed)
        self.item_ratings_: sparse.csr_matrix = data.matrix().T.tocsr().astype(np.float32)
        values = self.item_ratings_.data
        self.rating_range_ = (float(values.min()), float(values.max()))
        rated_items = np.flatnonzero(np.diff(self.item_ratings_.indptr) > 0)
        self.network_ = build_network(
            keras,
            data.n_users,
            cfg,
            n_train_items=len(rated_items),
            seed=seed,
            output_bias=self.global_mean_,
        )
        trainer = keras.Model(self.network_.inputs, self.network_.outputs)
        trainer.compile(
            optimizer=keras.optimizers.Adam(learning_rate=cfg.learning_rate),
            loss=masked_squared_error(keras),
        )
        batches = item_batches(keras, self.item_ratings_, rated_items, cfg.batch_size, rng,
                               epochs=cfg.epochs)
        trainer.fit(batches, epochs=1, verbose=0)
        self._read_network()

    def _read_network(self) -> None:
        """Cache the item codes and the decoder as NumPy arrays for fast scoring."""
        encoder_kernel, encoder_bias = self.network_.get_layer("encoder").get_weights()
        decoder_kernel, decoder_bias = self.network_.get_layer("decoder").get_weights()
        for weight in (encoder_kernel, encoder_bias, decoder_kernel, decoder_bias):
            if not np.all(np.isfinite(weight)):
                raise RuntimeError(
                    "AutoRec training diverged (non-finite weights): lower learning_rate"
                )
        pre = self.item_ratings_ @ encoder_kernel.astype(np.float64) + encoder_bias
        self.codes_: NDArray[np.float64] = 1.0 / (1.0 + np.exp(-pre))
        self.decoder_weights_: NDArray[np.float64] = decoder_kernel.astype(np.float64)
        self.decoder_bias_: NDArray[np.float64] = decoder_bias.astype(np.float64)

    # -- scoring -------------------------------------------------------------------------
    def _score_users(self, user_index: NDArray[np.int64]) -> NDArray[np.float64]:
        block = self.codes_ @ self.decoder_weights_[:, user_index] + self.decoder_bias_[user_index]
        return self._clip(block.T)

    def _predict_pairs(
        self, user_index: NDArray[np.int64], item_index: NDArray[np.int64]
    ) -> NDArray[np.float64]:
        raw = np.einsum("nh,hn->n", self.codes_[item_index], self.decoder_weights_[:, user_index])
        return self._clip(raw + self.decoder_bias_[user_index])

    def _score_history(
        self, item_index: NDArray[np.int64], ratings: NDArray[np.float64]
    ) -> NDArray[np.float64]:
        design = np.hstack([self.codes_[item_index], np.ones((len(item_index), 1))])
        penalty = max(self.config.l2 / 2.0, 1e-6) * np.eye(design.shape[1])
        target = np.asarray(ratings, dtype=np.float64) - self.global_mean_
        weights = np.linalg.solve(design.T @ design + penalty, design.T @ target)
        return self._clip(self.codes_ @ weights[:-1] + weights[-1] + self.global_mean_)

    def _clip(self, scores: NDArray[np.float64]) -> NDArray[np.float64]:
        low, high = self.rating_range_
        return np.clip(scores, low, high)

    def _item_vectors(self) -> NDArray[np.float64]:
        return self.codes_

    # -- persistence ---------------------------------------------------------------------
    def _state(self) -> dict[str, Any]:
        return {
            **save_sparse("item_ratings", self.item_ratings_),
            "rating_range": np.asarray(self.rating_range_, dtype=np.float64),
        }

    def _save_extra(self, folder: Path) -> None:
        _keras.save_network(self.network_, folder)

    def _set_state(self, arrays: dict[str, Any], folder: Path) -> None:
        self.item_ratings_ = load_sparse("item_ratings", arrays)
        low, high = (float(v) for v in arrays["rating_range"])
        self.rating_range_ = (low, high)
        self.network_ = _keras.load_network(folder)
        self._read_network()


def build_network(
    keras: Any,
    n_users: int,
    cfg: AutoRecConfig,
    *,
    n_train_items: int,
    seed: int,
    output_bias: float,
) -> Any:
    """The autoencoder ``r -> W sigmoid(V r + mu) + b`` over rating vectors of length ``n_users``.

    Keras averages the loss over a batch, so the paper's ``lambda / 2`` (for a sum over
    all items) becomes ``lambda / (2 * n_train_items)`` per weight tensor. The output bias
    starts at the global mean so the weights only learn deviations from it.
    """
    reg = keras.regularizers.L2(cfg.l2 / (2.0 * max(n_train_items, 1)))
    ratings = keras.Input(shape=(n_users,), name="ratings")
    code = keras.layers.Dense(
        cfg.hidden,
        activation="sigmoid",
        kernel_regularizer=reg,
        kernel_initializer=keras.initializers.GlorotUniform(seed=seed),
        name="encoder",
    )(ratings)
    reconstruction = keras.layers.Dense(
        n_users,
        kernel_regularizer=reg,
        kernel_initializer=keras.initializers.GlorotUniform(seed=seed + 1),
        bias_initializer=keras.initializers.Constant(output_bias),
        name="decoder",
    )(code)
    return keras.Model(ratings, reconstruction, name="i_autorec")


def masked_squared_error(keras: Any) -> Any:
    """Squared error summed over the observed (non-zero) entries of each input row."""
    ops = keras.ops

    def loss(y_true: Any, y_pred: Any) -> Any:
        observed = ops.cast(ops.not_equal(y_true, 0.0), y_pred.dtype)
        return ops.sum(observed * ops.square(y_true - y_pred), axis=-1)

    return loss


def item_batches(
    keras: Any,
    item_ratings: sparse.csr_matrix,
    rows: NDArray[np.int64],
    batch_size: int,
    rng: np.random.Generator,
    epochs: int = 1,
) -> Any:
    """A Keras ``PyDataset`` of dense ``(x, x)`` batches of sparse rows, for all ``epochs``.

    Every epoch visits the rows in a fresh order; the orders are drawn up front and the
    epochs laid end to end as one pass (train with ``epochs=1``), so batches never depend
    on when Keras prefetches them (redrawing in ``on_epoch_end`` races with that).
    """
    orders = [rng.permutation(rows) for _ in range(max(1, epochs))]
    per_epoch = int(np.ceil(len(rows) / batch_size))

    class ItemBatches(keras.utils.PyDataset):  # type: ignore[misc,name-defined]
        def __len__(self) -> int:
            return per_epoch * len(orders)

        def __getitem__(self, index: int) -> tuple[NDArray[np.float32], NDArray[np.float32]]:
            order = orders[index // per_epoch]
            step = index % per_epoch
            # the last batch wraps around to the start: one batch shape, one graph trace
            part = np.arange(step * batch_size, (step + 1) * batch_size) % len(order)
            chosen = np.sort(order[part])
            dense = item_ratings[chosen].toarray().astype(np.float32)
            return dense, dense

    return ItemBatches()
