"""The base class every model uses (the protocol and ``top_k`` are in ``protocol.py``).

A model implements three small hooks and inherits everything else:

* ``_fit(data)``: learn from an ``Interactions`` value;
* ``_score_users(user_index)``: scores of known users for every item, shape
  ``(len(user_index), n_items)``, NaN where the model cannot score an item;
* optionally ``_score_history(item_index, ratings)`` to fold in a new user from a handful of
  rated items (cold start), ``_item_vectors()`` for ``similar_items``, ``_state()`` /
  ``_set_state()`` for persistence, and ``_predict_pairs`` for rating predictors.

Sorting, tie-breaking, seen-item exclusion, candidate restriction, unknown users and
items, batching, saving and loading live here, once (LensKit ``Pipeline`` + implicit's
``RecommenderBase``). Scorers never sort.
"""

from __future__ import annotations

import inspect
import json
import time
from abc import ABC, abstractmethod
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, ClassVar, Self

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike, NDArray
from pydantic import BaseModel, ConfigDict
from scipy import sparse

from recsys.data.interactions import Interactions, Vocabulary
from recsys.data.schema import ITEM_ID, USER_ID
from recsys.errors import NotFittedError
from recsys.models.protocol import RecList, top_k
from recsys.models.similarity import ItemSimilarity
from recsys.models.sizing import DataShape, MemoryEstimate, PairsEstimate
from recsys.models.storage import (
    ARRAYS_FILE,
    FORMAT_VERSION,
    MODEL_FILE,
    ModelLoadError,
    load_sparse,
    read_model_meta,
    save_sparse,
)

#: Users scored at once: bounds memory to BATCH x n_items floats.
BATCH = 512


class ModelConfig(BaseModel):
    """Base of every model's typed configuration: unknown keys and non-finite numbers
    (``Infinity``, ``NaN``, which JSON parsers accept) are an error."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


def log_popularity(seen: sparse.spmatrix) -> NDArray[np.float64]:
    """``log(1 + raters)`` per item (column) of a users x items matrix: the fallback scores."""
    return np.log1p(np.diff(sparse.csc_matrix(seen).indptr).astype(np.float64))


def _masked_top_k(
    scores: NDArray[np.float64], k: int, exclude: sparse.csr_matrix | NDArray[np.bool_] | None,
    candidate_mask: NDArray[np.bool_] | None,
) -> tuple[NDArray[np.int64], NDArray[np.float64]]:
    """``top_k`` over the items of ``candidate_mask`` only (all items when ``None``)."""
    if candidate_mask is not None:
        scores = np.where(candidate_mask[None, :], scores, np.nan)
    return top_k(scores, k, exclude)


class BaseRecommender(ABC):
    """Shared behaviour of every model; subclasses implement the ``_`` hooks.

    Fitted attributes (set by ``fit`` or ``load``):
        users_: user vocabulary.
        items_: item vocabulary.
        seen_: binary CSR user x item matrix of training interactions.
        fallback_: per-item fallback scores (damped popularity) for unknown users.
        global_mean_: mean training rating (the default rating prediction).
        fit_seconds_: wall time of the last ``fit``.
    """

    name: ClassVar[str] = "base"
    #: The typed configuration. A model declares its config class once, by annotating
    #: ``config: EASEConfig`` in its class body (as LensKit does); ``config_class`` reads it.
    config: ModelConfig
    _config_class: ClassVar[type[ModelConfig]] = ModelConfig
    #: True for models whose scores are rating predictions (RMSE/MAE are meaningful).
    predicts_ratings: ClassVar[bool] = False

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "config" not in cls.__dict__.get("__annotations__", {}):
            return
        try:
            hint = inspect.get_annotations(cls, eval_str=True)["config"]
        except NameError as exc:
            raise TypeError(f"{cls.__name__}.config names a class not defined at module level "
                            f"before it: {exc}") from None
        if not (isinstance(hint, type) and issubclass(hint, ModelConfig)):
            raise TypeError(f"{cls.__name__}.config must be annotated with a ModelConfig "
                            f"subclass, got {hint!r}")
        cls._config_class = hint

    @classmethod
    def config_class(cls) -> type[ModelConfig]:
        """The model's config class (from its ``config`` annotation)."""
        return cls._config_class

    def __init__(self, config: ModelConfig | None = None, **params: Any) -> None:
        if config is not None and params:
            raise TypeError("pass either a config or keyword parameters, not both")
        config_class = self.config_class()
        self.config = config if config is not None else config_class(**params)
        if not isinstance(self.config, config_class):
            raise TypeError(f"{type(self).__name__} takes a {config_class.__name__}")
        self._fitted = False
        self._similarity: ItemSimilarity | None = None

    def __repr__(self) -> str:
        params = ", ".join(f"{k}={v!r}" for k, v in self.config.model_dump().items())
        return f"{type(self).__name__}({params})"

    # -- hooks ---------------------------------------------------------------------------
    @abstractmethod
    def _fit(self, data: Interactions) -> None:
        """Learn the model's state from ``data``."""

    @abstractmethod
    def _score_users(self, user_index: NDArray[np.int64]) -> NDArray[np.float64]:
        """Scores of known users (dense indices) for every item: ``(len, n_items)``."""

    def _score_history(
        self, item_index: NDArray[np.int64], ratings: NDArray[np.float64]
    ) -> NDArray[np.float64] | None:
        """Scores for a new user described by rated items; ``None`` = not supported."""
        return None

    def _item_vectors(self) -> sparse.csr_matrix | NDArray[np.float64] | None:
        """Item representations for ``similar_items``; ``None`` = use rating columns."""
        return None

    def _predict_pairs(
        self, user_index: NDArray[np.int64], item_index: NDArray[np.int64]
    ) -> NDArray[np.float64]:
        """Predictions for known (user, item) index pairs; default reads ``_score_users``."""
        out = np.empty(len(user_index))
        for start in range(0, len(user_index), BATCH * 8):
            u = user_index[start : start + BATCH * 8]
            i = item_index[start : start + BATCH * 8]
            uniq, inv = np.unique(u, return_inverse=True)
            block = self._score_users(uniq)
            out[start : start + len(u)] = block[inv, i]
        return out

    def _state(self) -> dict[str, NDArray[Any]]:
        """Arrays that, with the config, restore the fitted model."""
        return {}

    def _set_state(self, arrays: dict[str, NDArray[Any]], folder: Path) -> None:  # noqa: B027 - optional hook
        """Restore what ``_state`` (and ``_save_extra``) wrote."""

    def _save_extra(self, folder: Path) -> None:  # noqa: B027 - optional hook
        """Write non-array artefacts (e.g. a native Keras model) into ``folder``."""

    @classmethod
    def estimate_fit_memory(cls, config: ModelConfig, shape: DataShape) -> MemoryEstimate:
        """Peak memory of ``fit`` on data of ``shape``: the pipeline skips a variant whose
        estimate exceeds its budget instead of starting a fit the kernel would kill. The
        default covers models whose state grows with the ratings: a few copies of the
        sparse rating matrix (12 bytes a non-zero each) plus per-user and per-item vectors.
        Models with dense structures override it."""
        return MemoryEstimate(shape.nnz * 12 * 6 + (shape.n_users + shape.n_items) * 8 * 256,
                              "sparse rating matrices")

    @classmethod
    def estimate_fit_pairs(cls, config: ModelConfig, shape: DataShape) -> PairsEstimate | None:
        """The pairs ``fit`` scores all against all on data of ``shape`` (``None``: none);
        the pipeline skips a variant over its profile's ``train.max_fit_pairs``."""
        return None

    # -- public API ----------------------------------------------------------------------
    @property
    def is_fitted(self) -> bool:
        return self._fitted

    def _check_fitted(self) -> None:
        if not self._fitted:
            raise NotFittedError(f"{type(self).__name__} is not fitted: call fit() or load() first")

    def fit(self, interactions: Interactions) -> Self:
        if len(interactions) == 0:
            raise ValueError("cannot fit on an empty interactions table")
        start = time.perf_counter()
        self.users_: Vocabulary = interactions.users
        self.items_: Vocabulary = interactions.items
        seen = interactions.matrix("ones").copy()
        seen.data[:] = 1.0
        self.seen_: sparse.csr_matrix = seen
        self.global_mean_: float = float(interactions.frame["rating"].mean())
        self.fallback_: NDArray[np.float64] = log_popularity(seen)
        self._similarity = None
        self._fit(interactions)
        self._fitted = True
        self.fit_seconds_: float = time.perf_counter() - start
        return self

    @property
    def n_items(self) -> int:
        self._check_fitted()
        return len(self.items_)

    def score(self, user: int, items: ArrayLike | None = None) -> NDArray[np.float64]:
        """Scores of ``items`` (raw ids; all items in vocabulary order when ``None``) for ``user``.

        An unknown user gets the fallback scores; unknown items score NaN.
        """
        self._check_fitted()
        uidx = self.users_.index([user])[0]
        row = self._fallback_row() if uidx < 0 else self._score_users(np.array([uidx]))[0]
        if items is None:
            return np.asarray(row, dtype=np.float64)
        iidx = self.items_.index(items)
        out = np.where(iidx >= 0, row[np.clip(iidx, 0, None)], np.nan)
        return out.astype(np.float64)

    def _fallback_row(self) -> NDArray[np.float64]:
        return self.fallback_.astype(np.float64)

    def predict(self, users: ArrayLike, items: ArrayLike) -> NDArray[np.float64]:
        """Pairwise predictions; unknown users or items get ``global_mean_`` for rating models."""
        self._check_fitted()
        uidx = self.users_.index(users)
        iidx = self.items_.index(items)
        if uidx.shape != iidx.shape:
            raise ValueError("users and items must have the same length")
        out = np.full(uidx.shape, np.nan)
        known = (uidx >= 0) & (iidx >= 0)
        if known.any():
            out[known] = self._predict_pairs(uidx[known], iidx[known])
        if self.predicts_ratings:
            out = np.where(np.isnan(out), self.global_mean_, out)
        return out

    def _rank(
        self,
        scores: NDArray[np.float64],
        users: Sequence[int],
        k: int,
        exclude: sparse.csr_matrix | NDArray[np.bool_] | None,
        candidate_mask: NDArray[np.bool_] | None,
    ) -> pd.DataFrame:
        return self._frame(users, *_masked_top_k(scores, k, exclude, candidate_mask))

    def _frame(self, users: Sequence[int], idx: NDArray[np.int64],
               val: NDArray[np.float64]) -> pd.DataFrame:
        """The recommendation table of ``top_k``'s ``(len(users), k)`` output."""
        k = idx.shape[1]
        rows = np.repeat(np.asarray(users, dtype=np.int64), k)
        flat_idx, flat_val = idx.ravel(), val.ravel()
        ranks = np.tile(np.arange(1, k + 1), len(users))
        keep = flat_idx >= 0
        return pd.DataFrame(
            {
                USER_ID: rows[keep],
                ITEM_ID: self.items_.id_of(flat_idx[keep]),
                "score": flat_val[keep],
                "rank": ranks[keep],
            }
        )

    def rank_known(
        self,
        user_index: NDArray[np.int64],
        k: int,
        *,
        exclude_seen: bool = True,
        candidate_mask: NDArray[np.bool_] | None = None,
    ) -> tuple[NDArray[np.int64], NDArray[np.float64]]:
        """Item indices and scores of the ``k`` best items of known users (dense indices
        into ``users_``), best first: ``(len(user_index), k)`` arrays padded with ``-1`` /
        NaN, as ``top_k`` gives them. This is ``recommend`` without the id table, for
        callers that work in indices (the service's ranked lists)."""
        self._check_fitted()
        user_index = np.asarray(user_index, dtype=np.int64)
        idx = np.empty((len(user_index), k), dtype=np.int64)
        val = np.empty((len(user_index), k))
        for start in range(0, len(user_index), BATCH):
            batch = user_index[start : start + BATCH]
            exclude = self.seen_[batch] if exclude_seen else None
            idx[start : start + len(batch)], val[start : start + len(batch)] = _masked_top_k(
                self._score_users(batch), k, exclude, candidate_mask)
        return idx, val

    def _candidate_mask(self, candidates: ArrayLike | None) -> NDArray[np.bool_] | None:
        if candidates is None:
            return None
        cidx = self.items_.index(candidates)
        mask = np.zeros(self.n_items, dtype=bool)
        mask[cidx[cidx >= 0]] = True
        return mask

    def recommend(
        self,
        users: int | Iterable[int],
        k: int = 10,
        *,
        exclude_seen: bool = True,
        candidates: ArrayLike | None = None,
    ) -> RecList:
        """Top-``k`` items for each user; unknown users get the fallback (``cold_start``)."""
        self._check_fitted()
        if k < 1:
            raise ValueError(f"k must be >= 1, got {k}")
        user_list = [int(users)] if isinstance(users, int | np.integer) else [int(u) for u in users]
        uidx = self.users_.index(user_list)
        mask = self._candidate_mask(candidates)
        frames: list[pd.DataFrame] = []
        known_pos = np.flatnonzero(uidx >= 0)
        if len(known_pos):
            idx, val = self.rank_known(uidx[known_pos], k, exclude_seen=exclude_seen,
                                       candidate_mask=mask)
            frames.append(self._frame([user_list[p] for p in known_pos], idx, val))
        cold = [user_list[p] for p in np.flatnonzero(uidx < 0)]
        if cold:
            scores = np.tile(self._fallback_row(), (len(cold), 1))
            frames.append(self._rank(scores, cold, k, None, mask))
        frame = pd.concat(frames, ignore_index=True) if frames else self._rank(
            np.empty((0, self.n_items)), [], k, None, None
        )
        if cold and len(known_pos):  # known users came first: restore the caller's order
            order: dict[int, int] = {}
            for i, u in enumerate(user_list):
                order.setdefault(u, i)
            position = np.fromiter((order[u] for u in frame[USER_ID].tolist()), np.int64,
                                   count=len(frame))
            frame = frame.iloc[np.argsort(position, kind="stable")].reset_index(drop=True)
        return RecList(frame, frozenset(cold))

    def recommend_for_history(
        self,
        item_ids: ArrayLike,
        ratings: ArrayLike | None = None,
        k: int = 10,
        *,
        candidates: ArrayLike | None = None,
        user_id: int = -1,
    ) -> RecList:
        """Top-``k`` for a visitor described only by rated (or liked) items.

        Models that can fold in a new user do so; the others return the fallback, and the
        result's ``cold_start`` then names ``user_id``. The given items are excluded.
        """
        scores, exclude = self._history_scores(item_ids, ratings)
        cold = scores is None
        row = self._fallback_row() if scores is None else scores
        frame = self._rank(row[None, :], [user_id], k, exclude, self._candidate_mask(candidates))
        return RecList(frame, frozenset([user_id]) if cold else frozenset())

    def rank_history(
        self,
        item_ids: ArrayLike,
        ratings: ArrayLike | None = None,
        k: int = 10,
        *,
        candidate_mask: NDArray[np.bool_] | None = None,
    ) -> tuple[NDArray[np.int64], NDArray[np.float64]] | None:
        """``recommend_for_history`` in item indices, without the id table (as
        ``rank_known`` is ``recommend``'s): the ``k`` best ``(indices, scores)``, best
        first, padded with ``-1`` / NaN; ``None`` when the model cannot fold the history in."""
        scores, exclude = self._history_scores(item_ids, ratings)
        if scores is None:
            return None
        idx, val = _masked_top_k(scores[None, :], k, exclude, candidate_mask)
        return idx[0], val[0]

    def _history_scores(self, item_ids: ArrayLike, ratings: ArrayLike | None
                        ) -> tuple[NDArray[np.float64] | None, NDArray[np.bool_]]:
        """The folded-in scores of a history (``None``: no fold-in) and its items' mask."""
        self._check_fitted()
        iidx = self.items_.index(item_ids)
        vals = np.ones(len(iidx)) * 5.0 if ratings is None else np.asarray(ratings, float)
        known = iidx >= 0
        scores = self._score_history(iidx[known], vals[known]) if known.any() else None
        exclude = np.zeros((1, self.n_items), dtype=bool)
        exclude[0, iidx[known]] = True
        return (None if scores is None else np.asarray(scores, dtype=np.float64)), exclude

    def similar_items(self, item_id: int, k: int = 10) -> pd.DataFrame:
        """The ``k`` items most similar to ``item_id`` (cosine over the model's item vectors).

        Raises:
            KeyError: for an item the model does not know.
        """
        self._check_fitted()
        iidx = int(self.items_.index([item_id])[0])
        if iidx < 0:
            raise KeyError(f"unknown item {item_id}")
        if self._similarity is None:  # built once per fitted model, on first use
            vectors = self._item_vectors()
            self._similarity = ItemSimilarity(self.seen_.T if vectors is None else vectors)
        sims = self._similarity.of(iidx)
        exclude = np.zeros((1, self.n_items), dtype=bool)
        exclude[0, iidx] = True
        frame = self._rank(sims[None, :], [item_id], k, exclude, None)
        return frame.rename(columns={USER_ID: "query_item_id"})

    # -- persistence ---------------------------------------------------------------------
    def save(self, folder: str | Path) -> Path:
        """Write the fitted model to ``folder`` (JSON config + ``.npz`` arrays, no pickle)."""
        self._check_fitted()
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        arrays: dict[str, NDArray[Any]] = {
            "users": self.users_.ids,
            "items": self.items_.ids,
            "fallback": self.fallback_,
            "global_mean": np.asarray([self.global_mean_]),
            **save_sparse("seen", self.seen_),
        }
        for key, value in self._state().items():
            arrays[f"state/{key}"] = np.asarray(value)
        # stored, not deflated: a dense EASE at 9k items is 650 MB that zlib barely shrinks
        # (random float64) but takes tens of seconds to write and again to every load
        np.savez(folder / ARRAYS_FILE, **arrays)  # type: ignore[arg-type]
        self._save_extra(folder)
        meta = {
            "format": FORMAT_VERSION,
            "model": self.name,
            "config": self.config.model_dump(mode="json"),
            "predicts_ratings": self.predicts_ratings,
            "fit_seconds": getattr(self, "fit_seconds_", None),
        }
        (folder / MODEL_FILE).write_text(json.dumps(meta, indent=2))
        return folder

    @classmethod
    def load(cls, folder: str | Path) -> Self:
        """A fitted model from ``folder`` (written by ``save``).

        Raises:
            ModelLoadError: naming the folder for a missing, corrupt or foreign model.
        """
        folder = Path(folder)
        meta = read_model_meta(folder)
        if meta.get("model") != cls.name:
            raise ModelLoadError(f"{folder} holds a {meta.get('model')!r} model, not {cls.name!r}")
        try:
            return cls._load(folder, meta)
        except (ModelLoadError, MemoryError):
            raise
        except Exception as exc:  # truncated .npz, missing arrays, bad config: all corrupt
            detail = (f"{Path(exc.filename).name}: {exc.strerror}"
                      if isinstance(exc, OSError) and exc.filename and exc.strerror
                      else f"{type(exc).__name__}: {exc}")
            raise ModelLoadError(
                f"{folder}: corrupt or incomplete {cls.name} model ({detail}); "
                "refit it with `movierec fit`"
            ) from exc

    @classmethod
    def _load(cls, folder: Path, meta: dict[str, Any]) -> Self:
        model = cls(cls.config_class()(**meta["config"]))
        with np.load(folder / ARRAYS_FILE, allow_pickle=False) as npz:
            arrays = {key: npz[key] for key in npz.files}
        model.users_ = Vocabulary(arrays["users"])
        model.items_ = Vocabulary(arrays["items"])
        model.fallback_ = arrays["fallback"]
        model.global_mean_ = float(arrays["global_mean"][0])
        model.seen_ = load_sparse("seen", arrays)
        state = {k.removeprefix("state/"): v for k, v in arrays.items() if k.startswith("state/")}
        model._set_state(state, folder)
        if meta.get("fit_seconds") is not None:
            model.fit_seconds_ = float(meta["fit_seconds"])
        model._fitted = True
        return model
