"""The data contract: canonical table names, columns, dtypes and per-dataset rating scales.

Everything that reads or checks ratings, items or users takes its column names from here,
and the Great Expectations suites in ``expectations/`` are generated from these constants
(``recsys.validation.suites``).
"""

from __future__ import annotations

from dataclasses import dataclass

USER_ID = "user_id"
ITEM_ID = "item_id"
RATING = "rating"
TIMESTAMP = "timestamp"

RATING_COLUMNS: tuple[str, ...] = (USER_ID, ITEM_ID, RATING, TIMESTAMP)
RATING_DTYPES: dict[str, str] = {
    USER_ID: "int64",
    ITEM_ID: "int64",
    RATING: "float64",
    TIMESTAMP: "int64",
}

#: The largest user or item id accepted anywhere (CLI, files, service): ids must survive a
#: JSON round trip through JavaScript numbers (2**53) and fit numpy's int64.
ID_MAX = 2**53

#: Required item columns; the optional ones are present when the source has them.
ITEM_COLUMNS: tuple[str, ...] = ("item_id", "title", "year", "genres")
ITEM_OPTIONAL_COLUMNS: tuple[str, ...] = (
    "actors",
    "directors",
    "writers",
    "producers",
    "imdb_id",
    "tmdb_id",
    "tags",
)
#: Multi-valued item attributes are stored as one string joined by this separator.
LIST_SEPARATOR = "|"

USER_COLUMNS: tuple[str, ...] = ("user_id",)
USER_OPTIONAL_COLUMNS: tuple[str, ...] = ("age", "gender", "occupation", "zip_code")


@dataclass(frozen=True)
class RatingScale:
    """The allowed rating values of a dataset."""

    minimum: float
    maximum: float
    step: float

    def allowed(self) -> list[float]:
        n = round((self.maximum - self.minimum) / self.step)
        return [round(self.minimum + i * self.step, 4) for i in range(n + 1)]

    @property
    def midpoint(self) -> float:
        return (self.minimum + self.maximum) / 2


INTEGER_STARS = RatingScale(1.0, 5.0, 1.0)
HALF_STARS = RatingScale(0.5, 5.0, 0.5)
