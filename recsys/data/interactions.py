"""``Interactions``: a ratings frame plus the user and item vocabularies models index by.

Models never see raw ids: a ``Vocabulary`` maps raw MovieLens ids to dense indices
(LensKit's ``Vocabulary``, Surprise's raw/inner ids), and ``Interactions.matrix`` builds the
``scipy.sparse`` user x item matrix, so memory stays O(ratings).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike, NDArray
from scipy import sparse

from recsys.data.schema import ITEM_ID, RATING, RATING_COLUMNS, TIMESTAMP, USER_ID


@dataclass(frozen=True)
class Vocabulary:
    """A sorted array of unique raw ids and the dense index of each.

    Unknown ids map to ``-1``.
    """

    ids: NDArray[np.int64]

    @classmethod
    def from_ids(cls, ids: ArrayLike) -> Vocabulary:
        return cls(np.unique(np.asarray(ids, dtype=np.int64)))

    def __len__(self) -> int:
        return int(self.ids.shape[0])

    def __contains__(self, raw: object) -> bool:
        try:
            return bool(self.index(np.asarray([raw]))[0] >= 0)
        except (TypeError, ValueError):
            return False

    def index(self, raw: ArrayLike) -> NDArray[np.int64]:
        """Dense indices of ``raw`` ids, ``-1`` where unknown."""
        values = np.asarray(raw, dtype=np.int64).reshape(-1)
        pos = np.searchsorted(self.ids, values)
        pos = np.clip(pos, 0, max(len(self) - 1, 0))
        found = (len(self) > 0) & (self.ids[pos] == values) if len(self) else np.zeros_like(values, bool)
        return np.where(found, pos, -1).astype(np.int64)

    def id_of(self, index: ArrayLike) -> NDArray[np.int64]:
        return self.ids[np.asarray(index, dtype=np.int64)]


@dataclass(frozen=True)
class Interactions:
    """Ratings with their vocabularies and optional item metadata.

    Attributes:
        frame: ratings with the contract's columns (``user_id``, ``item_id``, ``rating``,
            ``timestamp``).
        users: vocabulary of user ids (every rating's user is in it).
        items: vocabulary of item ids: the rated items plus every catalogue item in
            ``item_features`` (so content models can recommend unrated movies).
        item_features: the canonical items table (``item_id``, ``title``, ``year``,
            ``genres`` ...), or ``None``.
    """

    frame: pd.DataFrame
    users: Vocabulary
    items: Vocabulary
    item_features: pd.DataFrame | None = None
    _cache: dict[str, object] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_frame(
        cls,
        ratings: pd.DataFrame,
        item_features: pd.DataFrame | None = None,
        *,
        users: Vocabulary | None = None,
        items: Vocabulary | None = None,
    ) -> Interactions:
        """Build from a ratings frame; missing ``timestamp``/``rating`` columns are filled.

        Given vocabularies are extended with any id they lack, never shrunk.
        """
        missing = {USER_ID, ITEM_ID} - set(ratings.columns)
        if missing:
            raise ValueError(f"ratings lack column(s): {', '.join(sorted(missing))}")
        frame = ratings.copy()
        if RATING not in frame:
            frame[RATING] = 1.0
        if TIMESTAMP not in frame:
            frame[TIMESTAMP] = 0
        frame = frame.loc[:, list(RATING_COLUMNS)].astype(
            {USER_ID: "int64", ITEM_ID: "int64", RATING: "float64", TIMESTAMP: "int64"}
        ).reset_index(drop=True)
        user_ids: list[ArrayLike] = [frame[USER_ID].to_numpy()]
        item_ids: list[ArrayLike] = [frame[ITEM_ID].to_numpy()]
        if users is not None:
            user_ids.append(users.ids)
        if items is not None:
            item_ids.append(items.ids)
        if item_features is not None:
            item_ids.append(item_features[ITEM_ID].to_numpy())
        return cls(
            frame=frame,
            users=Vocabulary.from_ids(np.concatenate([np.asarray(a) for a in user_ids])),
            items=Vocabulary.from_ids(np.concatenate([np.asarray(a) for a in item_ids])),
            item_features=item_features,
        )

    @property
    def n_users(self) -> int:
        return len(self.users)

    @property
    def n_items(self) -> int:
        return len(self.items)

    def __len__(self) -> int:
        return len(self.frame)

    @property
    def user_index(self) -> NDArray[np.int64]:
        return self.users.index(self.frame[USER_ID].to_numpy())

    @property
    def item_index(self) -> NDArray[np.int64]:
        return self.items.index(self.frame[ITEM_ID].to_numpy())

    def matrix(self, value: str = RATING) -> sparse.csr_matrix:
        """The n_users x n_items CSR matrix of ``value`` (``rating`` or ``"ones"``)."""
        key = f"matrix:{value}"
        if key not in self._cache:
            data = (
                np.ones(len(self.frame), dtype=np.float64)
                if value == "ones"
                else self.frame[value].to_numpy(dtype=np.float64)
            )
            mat = sparse.csr_matrix(
                (data, (self.user_index, self.item_index)), shape=(self.n_users, self.n_items)
            )
            mat.sum_duplicates()
            self._cache[key] = mat
        return self._cache[key]  # type: ignore[return-value]

    def subset(self, mask: ArrayLike) -> Interactions:
        """Rows selected by ``mask`` with the same vocabularies and metadata."""
        return Interactions.from_frame(
            self.frame[np.asarray(mask, dtype=bool)], self.item_features,
            users=self.users, items=self.items,
        )

    def user_history(self, user: int) -> pd.DataFrame:
        return self.frame[self.frame[USER_ID] == user]


def read_ratings(path: str | Path) -> pd.DataFrame:
    """Read a ratings table (CSV or Parquet) with the contract's columns.

    Raises:
        ValueError: with a readable message for a file that is not a table or lacks columns.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file")
    if path.suffix == ".parquet":
        frame = pd.read_parquet(path)
    else:
        try:
            frame = pd.read_csv(path)
        except (pd.errors.ParserError, UnicodeDecodeError, pd.errors.EmptyDataError) as exc:
            raise ValueError(f"{path}: not a readable CSV file ({exc})") from exc
    missing = [c for c in RATING_COLUMNS if c not in frame.columns]
    if missing:
        raise ValueError(
            f"{path}: missing column(s) {', '.join(missing)}; "
            f"expected {', '.join(RATING_COLUMNS)}, found {', '.join(map(str, frame.columns))}"
        )
    return frame


def load_processed(
    dataset: str, root: str | Path = "data/processed"
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """The prepared (ratings, items, users) tables of ``dataset``."""
    folder = Path(root) / dataset
    if not (folder / "ratings.parquet").is_file():
        raise FileNotFoundError(
            f"{folder}/ratings.parquet not found: run `movierec data fetch` and "
            "`movierec data prepare` first"
        )
    return tuple(  # type: ignore[return-value]
        pd.read_parquet(folder / f"{name}.parquet") for name in ("ratings", "items", "users")
    )


def ids(values: Iterable[int]) -> NDArray[np.int64]:
    return np.fromiter((int(v) for v in values), dtype=np.int64)
