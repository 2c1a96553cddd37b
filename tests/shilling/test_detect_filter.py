"""Detectors and the filter on real ML-100K: recall on an attack, false positives on clean data,
the implausible-share failure, and the filter's row invariants."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from recsys.shilling.attacks import Attack, generate_attack
from recsys.shilling.detectors import (
    PCAVarSelect,
    SupervisedDetector,
    TargetItemAnalysis,
    accomplices,
    confirm_groups,
    coordinated_profiles,
    create_detector,
    group_evidence,
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


@pytest.mark.parametrize("kind", ["average", "bandwagon", "segment"])
def test_a_three_percent_attack_is_caught_with_high_precision(ml100k, kind: str) -> None:  # type: ignore[no-untyped-def]
    attack = generate_attack(ml100k[0], kind, size=0.03, filler=0.03, targets=300, seed=1)
    flagged = set(create_detector("ensemble").fit(attack.ratings).flagged().pipe(lambda f: f[f].index))
    fakes = set(attack.fake_users.tolist())
    assert len(flagged & fakes) / len(fakes) >= 0.95
    assert len(flagged & fakes) / max(len(flagged), 1) >= 0.95


def _clones_among_random_users(n_group_items: int) -> pd.DataFrame:
    """200 random users (1..200) and 20 clones (1000..1019) rating items 7..7+n-1 max."""
    rng = np.random.default_rng(3)
    rows = [(u, int(i), float(rng.integers(1, 6))) for u in range(1, 201) for i in rng.choice(300, 30, replace=False)]
    rows += [(1000 + c, 7 + g, 5.0) for c in range(20) for g in range(n_group_items)]
    rows += [(1000 + c, int(i), float(rng.integers(1, 6))) for c in range(20)
             for i in rng.choice(np.arange(20, 300), 10, replace=False)]
    return pd.DataFrame(rows, columns=["user_id", "item_id", "rating"]).drop_duplicates(["user_id", "item_id"])


def test_group_confirmation_demotes_an_isolated_suspect() -> None:
    frame = _clones_among_random_users(1)
    probability = pd.Series(0.1, index=np.unique(frame["user_id"]))
    probability.loc[1000:1019] = 0.9
    isolated = [u for u in range(1, 201) if not ((frame.user_id == u) & (frame.item_id == 7)).any()][:3]
    probability.loc[isolated] = 0.95
    scores = confirm_groups(frame, probability)
    assert scores.loc[1000:1019].min() >= 0.5
    assert scores.loc[isolated].max() < 0.5
    genuine = scores.drop(range(1000, 1020))
    assert (genuine <= probability.loc[genuine.index] + 1e-12).all()
    # the ranking is kept: an isolated suspect still outranks unsuspected users
    assert scores.loc[isolated].min() > scores.drop(isolated).drop(range(1000, 1020)).max()


def test_group_evidence_is_partial_for_a_fan_of_one_group_item() -> None:
    frame = _clones_among_random_users(6)
    fan = 201
    frame = pd.concat([frame, pd.DataFrame({"user_id": fan, "item_id": [8, 100, 101], "rating": [5.0, 3.0, 2.0]})])
    probability = pd.Series(0.1, index=np.unique(frame["user_id"]))
    probability.loc[list(range(1000, 1020)) + [fan]] = 0.9
    evidence = group_evidence(frame, probability)
    assert evidence.loc[1000:1019].min() > 0.8
    assert 0 < evidence.loc[fan] <= 1 / 6
    assert confirm_groups(frame, probability).loc[fan] < 0.5


def test_a_target_shifted_suspect_joins_its_push_group_at_half_weight() -> None:
    frame = _clones_among_random_users(1)
    shifted = [(1100 + c, 7, 4.0) for c in range(3)] + [(1100 + c, 50 + c + k, 3.0)
                                                      for c in range(3) for k in range(5)]
    genuine_four = 5  # a genuine user who rated the group's item 4, suspected a little
    frame = pd.concat([frame, pd.DataFrame(shifted, columns=["user_id", "item_id", "rating"]),
                       pd.DataFrame({"user_id": [genuine_four], "item_id": [7], "rating": [4.0]})])
    frame = frame.drop_duplicates(["user_id", "item_id"], keep="last")
    probability = pd.Series(0.1, index=np.unique(frame["user_id"]))
    probability.loc[1000:1019] = 0.9
    probability.loc[1100:1102] = 0.9
    probability.loc[genuine_four] = 0.6
    evidence = group_evidence(frame, probability)
    full = evidence.loc[1000:1019].min()
    assert evidence.loc[1100:1102].tolist() == pytest.approx([0.5 * full] * 3)
    scores = confirm_groups(frame, probability)
    assert scores.loc[1100:1102].min() >= 0.5
    assert scores.loc[genuine_four] < 0.5


def test_an_unsuspected_profile_of_the_groups_size_and_target_is_ranked_not_flagged() -> None:
    frame = _clones_among_random_users(1)  # clones: 11 ratings, item 7 rated 5
    hidden, big_fan = 1200, 1201
    # 12 ratings: within 10% of the clones' size, outside their 2% size cohort
    rows = [(hidden, 7, 5.0)] + [(hidden, 400 + k, 3.0) for k in range(11)]
    rows += [(big_fan, 7, 5.0)] + [(big_fan, 500 + k, 3.0) for k in range(40)]
    frame = pd.concat([frame, pd.DataFrame(rows, columns=["user_id", "item_id", "rating"])])
    probability = pd.Series(0.01, index=np.unique(frame["user_id"]))
    probability.loc[1000:1019] = 0.9
    hidden_scores = accomplices(frame, probability)
    assert 0.3 < hidden_scores.loc[hidden] < 0.5
    assert hidden_scores.loc[big_fan] == 0.0  # the target's fan with a profile of another size
    assert hidden_scores.loc[1000:1019].max() == 0.0  # members are scored by the group step
    scores = confirm_groups(frame, probability)
    assert scores.loc[hidden] < 0.5
    assert scores.loc[hidden] > scores.drop([hidden, *range(1000, 1020)]).max()


def test_group_confirmation_clears_clean_ml100k_suspects(ml100k) -> None:  # type: ignore[no-untyped-def]
    # PCA-VarSelect told to suspect 2% of the genuine users: no attack, so no group to confirm them
    ratings = ml100k[0]
    probability = PCAVarSelect(expected_share=0.02).fit(ratings).scores()
    assert (probability >= 0.5).mean() >= 0.015
    assert (confirm_groups(ratings, probability) >= 0.5).mean() < 0.01


def test_coordinated_profiles_catch_a_popular_filler_attack(ml100k) -> None:  # type: ignore[no-untyped-def]
    # fillers drawn from popular items and rated near their means: the classifier misses
    # these profiles one by one, but the batch shares its size and its target
    attack = generate_attack(ml100k[0], "popular_filler", size=0.03, filler=0.03, targets=300, seed=2)
    evidence = coordinated_profiles(attack.ratings)
    fakes = evidence.index.isin(attack.fake_users)
    assert (evidence[fakes] >= 0.5).mean() >= 0.95
    assert (evidence[~fakes] >= 0.5).sum() <= 2
    flagged = create_detector("ensemble").fit(attack.ratings).flagged()
    assert flagged[fakes].mean() >= 0.95 and flagged[~fakes].sum() <= 2


def test_coordinated_profiles_flag_nobody_on_clean_ml100k(ml100k) -> None:  # type: ignore[no-untyped-def]
    assert (coordinated_profiles(ml100k[0]) >= 0.5).sum() == 0


def test_coordinated_profiles_need_a_shared_profile_size() -> None:
    frame = _clones_among_random_users(1)
    assert coordinated_profiles(frame).loc[1000:1019].min() >= 0.5
    # the same clones with sizes spread over 11..49 ratings: no cohort holds five of them
    rng = np.random.default_rng(5)
    extra = [(1000 + c, int(i), 3.0) for c in range(20)
             for i in rng.choice(np.arange(300, 600), 2 * c, replace=False)]
    spread = pd.concat([frame, pd.DataFrame(extra, columns=["user_id", "item_id", "rating"])])
    assert coordinated_profiles(spread).loc[1000:1019].max() == 0.0


def test_no_group_exists_among_random_suspects() -> None:
    rng = np.random.default_rng(4)
    rows = [(u, int(i), float(rng.integers(1, 6))) for u in range(1, 301) for i in rng.choice(200, 40, replace=False)]
    frame = pd.DataFrame(rows, columns=["user_id", "item_id", "rating"]).drop_duplicates(["user_id", "item_id"])
    probability = pd.Series(rng.random(300), index=np.arange(1, 301))
    assert (group_evidence(frame, probability) == 0).all()
    assert (confirm_groups(frame, probability) < 0.5).all()


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
