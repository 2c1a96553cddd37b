"""Per-dataset calibration: the ensemble fitted on the screened data's own users plus
injected attacks, cross-fitted, through the filter's ``calibration="dataset"``."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from recsys.data.schema import RATING_COLUMNS
from recsys.data.synth import SynthConfig, write_synthetic
from recsys.shilling.attacks import RatingStats, generate_attack
from recsys.shilling.filter import FilterConfig, filter_ratings, score_users

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory: pytest.TempPathFactory) -> pd.DataFrame:
    folder = write_synthetic(tmp_path_factory.mktemp("synth") / "s",
                             SynthConfig(n_ratings=40_000, n_users=400, n_items=1_500, seed=4)).folder
    frame = pd.read_csv(folder / "ratings.csv")
    frame.columns = list(RATING_COLUMNS)
    return frame


def test_calibrated_filter_finds_an_injected_attack_and_spares_genuine_users(
    synthetic: pd.DataFrame,
) -> None:
    stats = RatingStats.from_ratings(synthetic)
    target = int(stats.item_ids[np.argsort(stats.item_count)[len(stats.item_ids) // 2]])
    attack = generate_attack(synthetic, "average", size=0.05, filler=0.05, targets=target,
                             seed=3, stats=stats)
    poisoned = pd.concat([synthetic, attack.fake_ratings.loc[:, list(RATING_COLUMNS)]],
                         ignore_index=True)
    scores = score_users(poisoned, calibration="dataset", seed=0)
    flagged = set(scores.loc[scores["flagged"], "user_id"].astype(int))
    fakes = {int(u) for u in attack.fake_users}
    assert len(flagged & fakes) / len(fakes) >= 0.8
    assert len(flagged - fakes) / 400 <= 0.01


def test_filter_reports_its_calibration(synthetic: pd.DataFrame) -> None:
    result = filter_ratings(synthetic, calibration="dataset")
    assert result.report["calibration"] == "dataset"
    assert result.report["flagged_share"] <= 0.01
    with pytest.raises(ValueError, match="ensemble"):
        score_users(synthetic, detector="pca_varselect", calibration="dataset")
    assert FilterConfig().calibration == "reference"
