"""Detectors and the filter on real ML-100K: recall on an attack, false positives on clean data,
the implausible-share failure, and the filter's row invariants."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from recsys.shilling.attacks import Attack
from recsys.shilling.detectors import (
    PCAVarSelect,
    SupervisedDetector,
    TargetItemAnalysis,
    create_detector,
    target_item_scores,
)
from recsys.shilling.filter import ImplausibleFilterError, filter_ratings, quarantine

pytestmark = pytest.mark.data


@pytest.fixture(scope="session")
def poisoned_result(average_attack: Attack):  # type: ignore[no-untyped-def]
    return filter_ratings(average_attack.ratings, max_removed_share=0.2)


def test_ensemble_catches_an_average_attack(average_attack: Attack, poisoned_result) -> None:  # type: ignore[no-untyped-def]
    flagged = set(poisoned_result.report["flagged_users"])
    fakes = set(average_attack.fake_users.tolist())
    recall = len(flagged & fakes) / len(fakes)
    precision = len(flagged & fakes) / max(len(flagged), 1)
    assert recall >= 0.95, recall
    assert precision >= 0.8, precision


def test_few_genuine_users_flagged_on_clean_ml100k(ml100k) -> None:  # type: ignore[no-untyped-def]
    ratings = ml100k[0]
    scores = create_detector("ensemble").fit(ratings).scores()
    assert scores.between(0, 1).all() and len(scores) == ratings["user_id"].nunique()
    assert (scores >= 0.5).mean() < 0.01


def test_filter_moves_rows_and_never_adds_any(average_attack: Attack, poisoned_result) -> None:  # type: ignore[no-untyped-def]
    kept, quarantined = poisoned_result.kept, poisoned_result.quarantined
    assert len(kept) + len(quarantined) == len(average_attack.ratings)
    assert set(quarantined["user_id"]) == set(poisoned_result.report["flagged_users"])
    assert not set(kept["user_id"]) & set(quarantined["user_id"])
    assert set(poisoned_result.scores.columns) == {"user_id", "score", "flagged"}
    assert poisoned_result.report["threshold"] == 0.5


def test_filter_is_idempotent_on_its_output(poisoned_result) -> None:  # type: ignore[no-untyped-def]
    again = filter_ratings(poisoned_result.kept, max_removed_share=0.2)
    assert len(again.quarantined) == 0
    pd.testing.assert_frame_equal(again.kept, poisoned_result.kept)


def test_implausible_share_fails_loudly(average_attack: Attack) -> None:
    with pytest.raises(ImplausibleFilterError, match="more than the plausible") as info:
        filter_ratings(average_attack.ratings, max_removed_share=0.01)
    assert info.value.report["n_flagged_users"] > 0.01 * info.value.report["n_users"]


@settings(max_examples=50, deadline=None)
@given(
    users=st.lists(st.integers(1, 30), min_size=0, max_size=80),
    flagged=st.lists(st.integers(1, 35), max_size=10),
)
def test_quarantine_never_adds_rows_and_is_idempotent(users: list[int], flagged: list[int]) -> None:
    frame = pd.DataFrame({"user_id": users, "item_id": range(len(users)), "rating": 3.0, "timestamp": 0})
    kept, held = quarantine(frame, flagged)
    assert len(kept) + len(held) == len(frame)
    assert not set(kept["user_id"]) & set(flagged)
    kept2, held2 = quarantine(kept, flagged)
    assert len(held2) == 0 and kept2.equals(kept)


def test_pca_varselect_flags_its_expected_share(average_attack: Attack) -> None:
    scores = PCAVarSelect(expected_share=0.05).fit(average_attack.ratings).scores()
    assert scores.between(0, 1).all()
    assert abs((scores > 0.5).mean() - 0.05) < 0.01


def test_target_item_analysis_finds_a_group_sharing_an_extreme_item() -> None:
    rng = np.random.default_rng(3)
    rows = [(u, int(i), float(rng.integers(1, 6))) for u in range(1, 201) for i in rng.choice(300, 30, replace=False)]
    # 20 clones rate item 7 max plus a few random items: the group the analysis must find
    rows += [(1000 + c, 7, 5.0) for c in range(20)]
    rows += [(1000 + c, int(i), 1.0) for c in range(20) for i in rng.choice(np.arange(8, 300), 5, replace=False)]
    frame = pd.DataFrame(rows, columns=["user_id", "item_id", "rating"]).drop_duplicates(["user_id", "item_id"])
    # suspects: the clones and 13 random genuine users (the 15% most suspicious)
    suspicion = pd.Series(0.0, index=frame["user_id"].unique())
    suspicion.loc[1000:1019] = 1.0
    suspicion.loc[rng.choice(200, 13, replace=False) + 1] = 1.0
    scores = target_item_scores(frame, suspicion, candidate_share=0.15)
    assert scores.loc[1000:1019].min() > 0.5
    assert (scores.loc[1:200] >= 0.5).sum() <= 2
    assert TargetItemAnalysis().fit(frame).scores().between(0, 1).all()


def test_self_trained_classifier_generalises_to_an_unseen_kind(ml100k, average_attack: Attack) -> None:  # type: ignore[no-untyped-def]
    detector = SupervisedDetector(
        training="self", training_kinds=("random", "bandwagon", "love_hate"), attacks_per_kind=1,
        exclude_targets=(300,),
    ).train(ml100k[0])
    scores = detector.score_ratings(average_attack.ratings)
    assert scores.loc[average_attack.fake_users].mean() > 0.5
