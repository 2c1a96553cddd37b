"""Screening in shards (``recsys.shilling.shards``) and DegSim against anchor users: what
keeps the filter's cost linear and its attributes on one scale at every catalogue size."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from recsys.data.schema import RATING_COLUMNS
from recsys.data.synth import SynthConfig, write_synthetic
from recsys.shilling.attacks import RatingStats, generate_attack
from recsys.shilling.detectors import EnsembleDetector
from recsys.shilling.features import _as_arrays, deg_sim, degsim_anchors
from recsys.shilling.filter import score_users
from recsys.shilling.shards import describe_in_shards, shard_frames, user_shards


def test_user_shards_partition_the_users_evenly_and_repeatably() -> None:
    users = np.arange(1, 1_001) * 7
    shards = user_shards(users, size=300, seed=3)
    assert len(shards) == 4
    assert sorted(s.size for s in shards) == [250, 250, 250, 250]
    together = np.concatenate(shards)
    assert np.array_equal(np.sort(together), users)  # disjoint and complete
    assert all(np.array_equal(s, np.sort(s)) for s in shards)
    assert all(np.array_equal(a, b) for a, b in zip(shards, user_shards(users, 300, 3), strict=True))
    assert not np.array_equal(shards[0], user_shards(users, 300, 4)[0])
    # at most one shard's worth of users: one shard, in order
    assert len(user_shards(users, size=1_000)) == 1
    with pytest.raises(ValueError, match="at least 1"):
        user_shards(users, size=0)


def test_shard_frames_keep_every_row_of_a_user_together() -> None:
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"user_id": rng.integers(0, 90, 2_000), "item_id": rng.integers(0, 50, 2_000),
                          "rating": rng.integers(1, 6, 2_000).astype(float)})
    parts = list(shard_frames(frame, size=40, seed=1))
    assert len(parts) == 3
    assert sum(len(p) for p in parts) == len(frame)
    seen = [set(p["user_id"]) for p in parts]
    assert not (seen[0] & seen[1]) and not (seen[1] & seen[2]) and not (seen[0] & seen[2])
    described = describe_in_shards(frame, lambda p: p.groupby("user_id")[["rating"]].count(), 40, 1)
    assert described.index.is_monotonic_increasing
    pd.testing.assert_series_equal(described["rating"], frame.groupby("user_id")["rating"].count())


def _brute_degsim(frame: pd.DataFrame, pool: np.ndarray, k: int) -> np.ndarray:
    u, i, r, users = _as_arrays(frame)
    dense = np.zeros((len(users), int(i.max()) + 1))
    dense[u, i] = r
    rated = dense != 0
    means = dense.sum(1) / rated.sum(1)
    centred = np.where(rated, dense - means[:, None], 0.0)
    norms = np.linalg.norm(centred, axis=1)
    norms[norms == 0] = 1.0
    sims = (centred / norms[:, None]) @ (centred[pool] / norms[pool, None]).T
    sims[pool, np.arange(pool.size)] = -np.inf
    return np.sort(sims, axis=1)[:, -k:].mean(axis=1)


@pytest.mark.parametrize("anchors", [60, 1_000])
def test_degsim_is_the_mean_of_the_k_best_anchor_similarities(anchors: int) -> None:
    rng = np.random.default_rng(5)
    frame = pd.DataFrame({"user_id": rng.integers(0, 150, 3_000), "item_id": rng.integers(0, 80, 3_000),
                          "rating": rng.integers(1, 6, 3_000).astype(float)}).drop_duplicates(["user_id", "item_id"])
    u, i, r, users = _as_arrays(frame)
    pool = degsim_anchors(len(users), anchors)
    assert pool.size == min(anchors, len(users))
    got = deg_sim(u, i, r, len(users), int(i.max()) + 1, k=10, anchors=anchors)
    np.testing.assert_allclose(got, _brute_degsim(frame, pool, 10), atol=1e-9)


@pytest.fixture(scope="module")
def poisoned(tmp_path_factory: pytest.TempPathFactory) -> tuple[pd.DataFrame, set[int]]:
    folder = write_synthetic(tmp_path_factory.mktemp("synth") / "s",
                             SynthConfig(n_ratings=60_000, n_users=900, n_items=1_500, seed=6)).folder
    frame = pd.read_csv(folder / "ratings.csv")
    frame.columns = list(RATING_COLUMNS)
    stats = RatingStats.from_ratings(frame)
    target = int(stats.item_ids[np.argsort(stats.item_count)[len(stats.item_ids) // 2]])
    attack = generate_attack(frame, "average", size=0.04, filler=0.05, targets=target, seed=2,
                             stats=stats)
    together = pd.concat([frame, attack.fake_ratings.loc[:, list(RATING_COLUMNS)]], ignore_index=True)
    return together, {int(u) for u in attack.fake_users}


@pytest.mark.slow
def test_an_attack_spread_over_shards_is_still_caught(poisoned: tuple[pd.DataFrame, set[int]]) -> None:
    frame, fakes = poisoned
    genuine = frame["user_id"].nunique() - len(fakes)
    whole = EnsembleDetector().fit(frame).flagged()
    sharded = EnsembleDetector(shard_users=320).fit(frame).flagged()  # three shards
    for flagged in (whole, sharded):
        caught = set(flagged[flagged].index.astype(int))
        assert len(caught & fakes) / len(fakes) >= 0.8
        assert len(caught - fakes) / genuine <= 0.01


@pytest.mark.slow
def test_data_of_one_shard_is_described_as_a_whole(poisoned: tuple[pd.DataFrame, set[int]]) -> None:
    frame, _ = poisoned
    default = score_users(frame)
    unsharded = EnsembleDetector(shard_users=10**9).fit(frame).scores()
    np.testing.assert_allclose(default["score"].to_numpy(), unsharded.to_numpy())
