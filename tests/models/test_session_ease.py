"""Session EASE: the contract, and sessions rather than whole histories."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from recsys.data.interactions import Interactions
from recsys.models import create
from recsys.models.session_ease import SessionEASE
from recsys.testing import RecommenderContract

pytestmark = pytest.mark.model


class TestSessionEASE(RecommenderContract):
    name = "session_ease"
    params = {"regularization": 1.0}
    quality_floor = 1.0
    history_floor = 1.0


def _sittings(gap_between: int) -> Interactions:
    """Two users, each rating {0, 1} in one sitting and {2, 3} in another, ``gap_between``
    seconds later; a third user rated 0 and 2 together, and a fourth rated only 0."""
    rows = [
        (1, 0, 0), (1, 1, 10), (1, 2, 10 + gap_between), (1, 3, 20 + gap_between),
        (2, 0, 0), (2, 1, 10), (2, 2, 10 + gap_between), (2, 3, 20 + gap_between),
        (3, 0, 0), (3, 2, 5),
        (4, 0, 0),
    ]
    frame = pd.DataFrame(rows, columns=["user_id", "item_id", "timestamp"]).assign(rating=4.0)
    return Interactions.from_frame(frame)


def test_session_ease_learns_from_sittings_not_whole_histories() -> None:
    data = _sittings(gap_between=86_400)
    session = SessionEASE(regularization=1.0, session_gap=3600).fit(data)
    plain = create("ease", regularization=1.0).fit(data)
    # in sittings, item 0 goes with item 1 twice and with item 2 once (never with 3) ...
    s_row = session.score(4, [1, 2, 3])
    assert s_row[0] > s_row[1] > s_row[2]
    # ... while whole histories put it with item 2 three times and with item 1 twice
    p_row = plain.score(4, [1, 2, 3])
    assert p_row[1] > p_row[0]
    # with every rating in one sitting, the sessions are the users: plain EASE exactly
    together = SessionEASE(regularization=1.0, session_gap=10**9).fit(data)
    np.testing.assert_allclose(together.weights_, plain.weights_)


def test_session_ease_without_timestamps_is_plain_ease() -> None:
    frame = _sittings(gap_between=86_400).frame.drop(columns="timestamp")
    data = Interactions.from_frame(frame)
    session = SessionEASE(regularization=1.0).fit(data)
    np.testing.assert_allclose(session.weights_, create("ease", regularization=1.0).fit(data).weights_)
