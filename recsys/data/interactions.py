"""``Interactions``: a ratings frame plus the user and item vocabularies models index by.

Models never see raw ids: a ``Vocabulary`` maps raw MovieLens ids to dense indices
(LensKit's ``Vocabulary``, Surprise's raw/inner ids), and ``Interactions.matrix`` builds the
``scipy.sparse`` user x item matrix, so memory stays O(ratings).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike, NDArray
from scipy import sparse

from recsys.data.schema import (
    ID_MAX,
    ITEM_ID,
    RATING,
    RATING_COLUMNS,
    TIMESTAMP,
    USER_ID,
    RatingScale,
)
from recsys.data.tables import read_table_file, require_file


@dataclass(frozen=True)
class Vocabulary:
    """A sorted array of unique raw ids and the dense index of each.

    Unknown ids map to ``-1``.
    """

    ids: NDArray[np.int64]

    @classmethod
    def from_ids(cls, ids: ArrayLike) -> Vocabulary:
        # hash first, then sort the few distinct ids: np.unique sorts all 25M ids, ~40x slower
        return cls(np.sort(pd.unique(np.asarray(ids, dtype=np.int64).reshape(-1))))

    @cached_property
    def _table(self) -> NDArray[np.int64] | None:
        """``raw id -> index`` as an array indexed by the id, when ids are non-negative and
        not far sparser than the vocabulary (MovieLens: ids up to ~3x their count); mapping
        25M ratings through it is several times faster than a binary search."""
        if not len(self) or self.ids[0] < 0 or self.ids[-1] > 64 * len(self) + 1_000_000:
            return None
        table = np.full(int(self.ids[-1]) + 1, -1, dtype=np.int64)
        table[self.ids] = np.arange(len(self), dtype=np.int64)
        return table

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
        table = self._table
        if table is not None:
            out = np.full(values.shape, -1, dtype=np.int64)
            inside = (values >= 0) & (values < table.size)
            out[inside] = table[values[inside]]
            return out
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
        rating = pd.to_numeric(frame[RATING], errors="coerce")
        bad = ~np.isfinite(rating.to_numpy(dtype=np.float64))
        if bad.any():
            # NaN would silently become the global mean (baseline) or break a solver
            raise ValueError(
                f"{int(bad.sum()):,} rating(s) missing, non-numeric or infinite "
                f"(first at row {int(np.flatnonzero(bad)[0])})"
            )
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


def read_ratings(path: str | Path, scale: RatingScale | None = None) -> pd.DataFrame:
    """Read a ratings table (CSV or Parquet) with the contract's columns and check its values.

    Every row needs integer ids in ``[0, ID_MAX]``, a finite numeric ``rating`` (on
    ``scale`` when given: the dataset's scale from the registry) and an integer
    ``timestamp``; a ``(user_id, item_id)`` pair may occur once. Models would otherwise
    silently average NaN or rescaled ratings, or double-count a duplicated pair.

    Raises:
        FileNotFoundError: for a missing file.
        ValueError: naming the file, the column and how many rows are wrong, for a file that
            is not a table, lacks columns or holds values the data contract forbids.
    """
    path = Path(path)
    frame = read_table_file(path, "ratings table")
    missing = [c for c in RATING_COLUMNS if c not in frame.columns]
    if missing:
        raise ValueError(
            f"{path}: missing column(s) {', '.join(missing)}; "
            f"expected {', '.join(RATING_COLUMNS)}, found {', '.join(map(str, frame.columns))}"
        )
    return check_ratings(frame, path, scale)


def id_ok(values: pd.Series) -> NDArray[np.bool_]:
    """Which of ``values`` (numeric) are integer ids in ``0..ID_MAX``, the service's bound.

    Ids beyond int64 arrive as float, uint64 or object columns; each is checked exactly.
    """
    if pd.api.types.is_integer_dtype(values.dtype) and values.dtype != np.uint64:
        array = values.to_numpy(dtype=np.int64)
        return (array >= 0) & (array <= ID_MAX)
    if pd.api.types.is_float_dtype(values.dtype):
        array = values.to_numpy(dtype=np.float64)
        # 2**53 is exact in float64, and every float below it that is integral is exact
        return np.isfinite(array) & (array == np.round(array)) & (array >= 0) & (array <= ID_MAX)
    return np.array([_exact_id(v) for v in values.tolist()], dtype=bool)


def _bad_ids(raw: pd.Series) -> tuple[pd.Series, NDArray[np.bool_]]:
    """``raw`` as numbers, and which entries are missing or not ids in ``0..ID_MAX``."""
    values = pd.to_numeric(raw, errors="coerce")
    bad = raw.isna().to_numpy() | values.isna().to_numpy()
    bad[~bad] = ~id_ok(values[~bad])
    return values, bad


def _exact_id(value: object) -> bool:
    try:
        number = int(value)  # type: ignore[call-overload]
    except (TypeError, ValueError, OverflowError):
        return False
    return number == value and 0 <= number <= ID_MAX


def _rows(mask: NDArray[np.bool_]) -> str:
    """``"3 rows (first: row 7)"`` with 1-based data row numbers as a spreadsheet shows them."""
    count = int(mask.sum())
    return f"{count:,} row{'s' if count != 1 else ''} (first: row {int(np.flatnonzero(mask)[0]) + 1})"


def check_ratings(
    frame: pd.DataFrame, source: str | Path = "ratings", scale: RatingScale | None = None
) -> pd.DataFrame:
    """``frame`` with the contract's dtypes, or a ``ValueError`` naming ``source``, the column
    and the offending rows (see ``read_ratings``)."""
    out = frame.copy()
    for column in RATING_COLUMNS:
        raw = out[column]
        values = pd.to_numeric(raw, errors="coerce")
        absent = raw.isna().to_numpy()
        if absent.any():
            raise ValueError(f"{source}: column {column!r} has missing values in {_rows(absent)}")
        bad = values.isna().to_numpy()
        if bad.any():
            first = raw[bad].iloc[0]
            raise ValueError(f"{source}: column {column!r} is not numeric in {_rows(bad)}, "
                             f"e.g. {first!r}")
        numbers = values.to_numpy(dtype=np.float64)
        if column == RATING:
            bad = ~np.isfinite(numbers)
            if bad.any():
                raise ValueError(f"{source}: column 'rating' is not finite in {_rows(bad)}")
            out[column] = numbers
            continue
        if column in (USER_ID, ITEM_ID):
            bad = ~id_ok(values)
            if bad.any():
                first = raw[bad].iloc[0]
                raise ValueError(f"{source}: column {column!r} holds ids that are not integers "
                                 f"in 0..2**53 in {_rows(bad)}, e.g. {first!r}")
            out[column] = values.to_numpy().astype(np.int64)
            continue
        bad = ~np.isfinite(numbers) | (numbers != np.round(numbers)) | (np.abs(numbers) > 2**62)
        if bad.any():
            raise ValueError(f"{source}: column {column!r} is not an integer in {_rows(bad)}")
        out[column] = numbers.astype(np.int64)
    if scale is not None:
        rating = out[RATING].to_numpy()
        allowed = np.asarray(scale.allowed())
        on_scale = np.isclose(rating[:, None], allowed[None, :], atol=1e-6).any(axis=1)
        if not on_scale.all():
            first = rating[~on_scale][0]
            raise ValueError(
                f"{source}: column 'rating' is off the dataset's scale ({scale.minimum:g} to "
                f"{scale.maximum:g} in steps of {scale.step:g}) in {_rows(~on_scale)}, "
                f"e.g. {first:g}"
            )
    dup = out.duplicated([USER_ID, ITEM_ID], keep="first").to_numpy()
    if dup.any():
        first = out[dup].iloc[0]
        raise ValueError(
            f"{source}: {int(dup.sum()):,} duplicate (user_id, item_id) pair(s), e.g. user "
            f"{int(first[USER_ID])} item {int(first[ITEM_ID])} at row {int(np.flatnonzero(dup)[0]) + 1}; "
            "keep one rating per pair"
        )
    return out


def check_known_items(
    ratings: pd.DataFrame, items: pd.DataFrame, source: str | Path = "ratings",
    dataset: str = "the dataset",
) -> None:
    """Raise a ``ValueError`` naming ``source`` when it rates items the items table lacks:
    the item metadata comes from the dataset, so unknown ids mean the wrong ``dataset``."""
    rated = ratings[ITEM_ID].to_numpy()
    unknown = ~np.isin(rated, items[ITEM_ID].to_numpy())
    if unknown.any():
        raise ValueError(
            f"{source}: {_rows(unknown)} rate item ids that {dataset}'s items table does not "
            f"have, e.g. {int(rated[unknown][0])}: the ids must be {dataset}'s (is --dataset "
            "right?)"
        )


def read_items(path: str | Path) -> pd.DataFrame:
    """An items table (Parquet, as ``movierec data prepare`` writes it, or CSV) with at
    least ``item_id`` and ``title``, ids integers in ``0..ID_MAX``.

    Raises:
        FileNotFoundError: for a missing file.
        ValueError: naming the file for one that is not a table or lacks those columns.
    """
    path = Path(path)
    frame = read_table_file(path, "items table")
    missing = [c for c in (ITEM_ID, "title") if c not in frame.columns]
    if missing:
        raise ValueError(f"{path}: missing column(s) {', '.join(missing)} of the items table; "
                         f"found {', '.join(map(str, frame.columns))}")
    _, bad = _bad_ids(frame[ITEM_ID])
    if bad.any():
        raise ValueError(f"{path}: column 'item_id' holds ids that are missing or not integers "
                         f"in 0..2**53 in {_rows(bad)}")
    return frame


def check_id(value: int, what: str = "user id") -> int:
    """``value`` if it is an id in ``0..ID_MAX`` (the service's bound), else a ``ValueError``."""
    if not 0 <= value <= ID_MAX:
        raise ValueError(f"{what} {value} is out of range: ids are integers in 0..2**53")
    return value


def read_user_ids(path: str | Path) -> list[int]:
    """Distinct user ids, in first-seen order, from a CSV with a ``user_id`` column or a file
    with one id per line.

    Raises:
        FileNotFoundError: for a missing file.
        ValueError: naming the file and entry for anything that is not an id in ``0..ID_MAX``.
    """
    path = Path(path)
    require_file(path)
    try:
        lines = [line.strip() for line in path.read_text().splitlines() if line.strip()]
    except UnicodeDecodeError as exc:
        raise ValueError(f"{path}: not a text file ({exc})") from None
    if lines and USER_ID in [c.strip() for c in lines[0].split(",")]:
        try:
            values = pd.read_csv(path, dtype=str)[USER_ID].dropna().tolist()
        except (pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
            raise ValueError(f"{path}: not a readable CSV file ({exc})") from None
    else:
        values = lines
    users: list[int] = []
    for number, value in enumerate(values, start=1):
        try:
            users.append(check_id(int(str(value).strip())))
        except ValueError:
            raise ValueError(f"{path}: entry {number} ({value!r}) is not a user id "
                             "(an integer in 0..2**53)") from None
    if not users:
        raise ValueError(f"{path}: no user ids found")
    return list(dict.fromkeys(users))


def read_pairs(path: str | Path) -> pd.DataFrame:
    """The ``user_id``, ``item_id`` columns of a CSV (or Parquet) table as int64 ids in
    ``0..ID_MAX``.

    Raises:
        FileNotFoundError: for a missing file.
        ValueError: naming the file, the column and the rows for bad or missing ids.
    """
    path = Path(path)
    frame = read_table_file(path, "pairs table")
    missing = [c for c in (USER_ID, ITEM_ID) if c not in frame.columns]
    if missing:
        raise ValueError(f"{path}: missing column(s) {', '.join(missing)}; expected "
                         f"user_id,item_id, found {', '.join(map(str, frame.columns))}")
    out = pd.DataFrame(index=frame.index)
    for column in (USER_ID, ITEM_ID):
        raw = frame[column]
        values, bad = _bad_ids(raw)
        if bad.any():
            first = raw[bad].iloc[0]
            raise ValueError(f"{path}: column {column!r} holds ids that are missing or not "
                             f"integers in 0..2**53 in {_rows(bad)}, e.g. {first!r}")
        out[column] = values.to_numpy().astype(np.int64)
    return out.reset_index(drop=True)


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
