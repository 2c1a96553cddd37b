"""Attack generator invariants (Hypothesis over kinds, sizes, targets and seeds)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from recsys.shilling.attacks import (
    ATTACK_KINDS,
    SELECTED_DEFAULT,
    RatingStats,
    generate_attack,
    intent_of,
)

pytestmark = pytest.mark.unit


def _synthetic(n_users: int = 60, n_items: int = 80, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    users = np.repeat(np.arange(1, n_users + 1), 20)
    items = np.concatenate([rng.choice(np.arange(1, n_items + 1), 20, replace=False) for _ in range(n_users)])
    return pd.DataFrame({
        "user_id": users, "item_id": items,
        "rating": rng.integers(1, 6, len(users)).astype(float),
        "timestamp": rng.integers(874_724_710, 893_286_638, len(users)),
    })


GENUINE = _synthetic()
STATS = RatingStats.from_ratings(GENUINE)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    kind=st.sampled_from(ATTACK_KINDS),
    size=st.floats(0.01, 0.3),
    filler=st.floats(0.0, 0.5),
    target=st.sampled_from(sorted(GENUINE["item_id"].unique().tolist())),
    seed=st.integers(0, 2**16),
)
def test_generated_profiles_obey_the_attack_model(kind: str, size: float, filler: float, target: int, seed: int) -> None:
    attack = generate_attack(GENUINE, kind, size=size, filler=filler, targets=target, seed=seed, stats=STATS)
    fake = attack.fake_ratings
    n_fake = max(1, round(size * STATS.n_users))
    n_filler = round(filler * STATS.n_items)
    # ground truth: new ids above every genuine id, one row per fake user
    assert len(attack.truth) == n_fake
    assert attack.truth["user_id"].min() > GENUINE["user_id"].max()
    assert set(fake["user_id"]) == set(attack.fake_users)
    # the poisoned table is the genuine one plus the fake rows, nothing else
    assert len(attack.ratings) == len(GENUINE) + len(fake)
    pd.testing.assert_frame_equal(attack.ratings.iloc[: len(GENUINE)].reset_index(drop=True),
                                  GENUINE.astype(attack.ratings.dtypes.to_dict()))
    # ratings on the scale, timestamps inside the data's period
    assert fake["rating"].between(1, 5).all() and (fake["rating"] % 1 == 0).all()
    assert fake["timestamp"].between(GENUINE["timestamp"].min(), GENUINE["timestamp"].max()).all()
    # profile sizes: fillers + selected + target, no item twice in a profile
    assert not fake.duplicated(["user_id", "item_id"]).any()
    for component, group in fake.groupby("kind"):
        n_selected = SELECTED_DEFAULT.get(str(component), 0)
        sizes = group.groupby("user_id").size()
        assert (sizes == n_filler + n_selected + 1).all(), (component, sizes.unique())
        roles = group.groupby("role").size()
        assert roles.get("target", 0) == group["user_id"].nunique()
    # the target rating: max for push, max - 1 for target shifting, min for nuke
    targets = fake[fake["role"] == "target"]
    assert (targets["item_id"] == target).all()
    expected = targets["kind"].map(
        lambda k: 4.0 if k == "target_shift" else (1.0 if intent_of(k) == "nuke" else 5.0)
    )
    assert (targets["rating"] == expected).all()


@pytest.mark.parametrize("kind", ["segment", "love_hate"])
def test_segment_and_love_hate_fillers_are_extreme(kind: str) -> None:
    attack = generate_attack(GENUINE, kind, size=0.1, filler=0.2, targets=5, seed=1, stats=STATS)
    fillers = attack.fake_ratings.loc[attack.fake_ratings["role"] == "filler", "rating"]
    assert (fillers == (1.0 if kind == "segment" else 5.0)).all()


def test_bad_parameters_are_rejected() -> None:
    with pytest.raises(ValueError, match="unknown attack kind"):
        generate_attack(GENUINE, "sybil", size=0.1, filler=0.1, targets=5)
    with pytest.raises(ValueError, match="not rated"):
        generate_attack(GENUINE, "average", size=0.1, filler=0.1, targets=99_999)
    with pytest.raises(ValueError, match="attack size"):
        generate_attack(GENUINE, "average", size=0.0, filler=0.1, targets=5)
