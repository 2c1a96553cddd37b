"""User EASE: the contract and its memory guard."""

from __future__ import annotations

import pytest

from recsys.models import sizing
from recsys.models.user_ease import UserEASE
from recsys.testing import Checkerboard, RecommenderContract

pytestmark = pytest.mark.model


class TestUserEASE(RecommenderContract):
    name = "user_ease"
    params = {"regularization": 1.0}
    quality_floor = 1.0


def test_user_ease_checks_its_users_x_users_matrix_fits(
    checkerboard: Checkerboard, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sizing, "available_memory", lambda: 1024)
    with pytest.raises(MemoryError, match="user EASE on .* users needs 3 dense"):
        UserEASE().fit(checkerboard.interactions)
