"""``read_ratings`` enforces the data contract's values: no missing or non-numeric cells,
ids within the service's bound, ratings on the dataset's scale, one rating per pair."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from recsys.data.interactions import Interactions, read_ratings
from recsys.data.schema import HALF_STARS, INTEGER_STARS, RATING_DTYPES

pytestmark = pytest.mark.unit

HEADER = "user_id,item_id,rating,timestamp\n"


def _csv(tmp_path: Path, rows: str) -> Path:
    path = tmp_path / "ratings.csv"
    path.write_text(HEADER + rows)
    return path


def test_good_file_gets_contract_dtypes(tmp_path: Path) -> None:
    frame = read_ratings(_csv(tmp_path, "1,10,4,100\n2,10,3,200\n"), INTEGER_STARS)
    assert {c: str(t) for c, t in frame.dtypes.items()} == RATING_DTYPES
    assert frame["rating"].tolist() == [4.0, 3.0]


@pytest.mark.parametrize(
    ("rows", "scale", "message"),
    [
        ("1,10,,100\n1,11,,100\n2,10,3,100\n", None,
         "column 'rating' has missing values in 2 rows (first: row 1)"),
        ("1,10,five,100\n", None, "column 'rating' is not numeric in 1 row"),
        ("1,10,inf,100\n", None, "column 'rating' is not finite"),
        ("1,10,3,100\n1,11,500,100\n", INTEGER_STARS,
         "column 'rating' is off the dataset's scale (1 to 5 in steps of 1) in 1 row "
         "(first: row 2), e.g. 500"),
        ("1,10,3.5,100\n", INTEGER_STARS, "off the dataset's scale"),
        ("1,10,0,100\n", HALF_STARS, "off the dataset's scale (0.5 to 5 in steps of 0.5)"),
        ("1,10,3,100\n2,10,4,100\n1,10,5,200\n", None,
         "1 duplicate (user_id, item_id) pair(s), e.g. user 1 item 10 at row 3"),
        ("99999999999999999999,10,3,100\n", None,
         "column 'user_id' holds ids that are not integers in 0..2**53"),
        ("1,-4,3,100\n", None, "column 'item_id' holds ids that are not integers"),
        ("1.5,4,3,100\n", None, "column 'user_id' holds ids that are not integers"),
        ("1,4,3,\n", None, "column 'timestamp' has missing values"),
    ],
)
def test_bad_values_name_file_column_and_rows(
    tmp_path: Path, rows: str, scale: object, message: str
) -> None:
    path = _csv(tmp_path, rows)
    with pytest.raises(ValueError, match="^" + str(path)) as info:
        read_ratings(path, scale)  # type: ignore[arg-type]
    assert message in str(info.value)


def test_off_scale_is_allowed_without_a_scale(tmp_path: Path) -> None:
    assert read_ratings(_csv(tmp_path, "1,10,500,100\n"))["rating"].tolist() == [500.0]


def test_interactions_reject_nan_ratings() -> None:
    frame = pd.DataFrame({"user_id": [1, 2], "item_id": [1, 1], "rating": [4.0, np.nan],
                          "timestamp": [0, 0]})
    with pytest.raises(ValueError, match="1 rating"):
        Interactions.from_frame(frame)


def test_baseline_biases_keep_nan_from_ratings() -> None:
    """nan_to_num used to turn NaN ratings into zero biases: a silent global-mean model."""
    from scipy import sparse

    from recsys.models.baseline import fit_biases

    matrix = sparse.csr_matrix(np.array([[4.0, np.nan], [3.0, 0.0]]))
    user_bias, item_bias = fit_biases(matrix, 3.5, 0.0, 0.0, 3)
    assert not np.isfinite(item_bias).all()
    empty = sparse.csr_matrix((np.array([4.0]), (np.array([0]), np.array([0]))), shape=(2, 2))
    user_bias, item_bias = fit_biases(empty, 4.0, 0.0, 0.0, 3)
    assert np.isfinite(user_bias).all() and np.isfinite(item_bias).all()
