"""The shipped ``profiles.large`` and the training step's memory budget."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from movierec.cli import app
from recsys.evaluation.splits import split_ratings
from recsys.models.budget import data_shape, per_fit_budget, skip_reason
from recsys.models.sizing import DataShape
from recsys.params import ParamsError, load

ROOT = Path(__file__).resolve().parents[2]


def test_shipped_large_profile() -> None:
    large = load(ROOT / "params.yaml", "large").train
    default = load(ROOT / "params.yaml", None).train
    # every variant of the default set is in the large run or skipped with a reason there
    assert set(default.models) <= set(large.models)
    assert load(ROOT / "params.yaml", "large").evaluate.protocol == "sampled-last-out"
    assert large.memory_budget_gb is not None and large.memory_budget_gb <= 16
    shape = DataShape(n_users=162_541, n_items=62_423, nnz=25_000_095)
    budget = per_fit_budget(large.memory_budget_gb, large.parallelism)
    over = {v: skip_reason(v, large.model_settings(v), shape, budget, large.max_fit_pairs)
            for v in large.models if v not in large.skip}
    assert {v for v, why in over.items() if why} == {"ease", "user_knn"}
    assert over["user_knn"] == ("skipped: all-pairs similarity of 162,541 users scores 2.6e+10 "
                                "pairs (train.max_fit_pairs 5e+09)")
    # at 1M ratings (ML-1M's shape) every variant the profile does not name runs
    small = DataShape(n_users=6_040, n_items=3_706, nnz=1_000_209)
    assert not any(skip_reason(v, large.model_settings(v), small, budget, large.max_fit_pairs)
                   for v in large.models if v not in large.skip)


def test_profile_skip_names_registered_models(tmp_path: Path) -> None:
    params = tmp_path / "params.yaml"
    params.write_text("profiles: {large: {train: {skip: {mff: slow}}}}\n")
    with pytest.raises(ParamsError, match="profiles.large.train.skip.*unknown model.*'mff'"):
        load(params, "large")
    params.write_text("train: {memory_budget_gb: 0}\n")
    with pytest.raises(ParamsError, match="train.memory_budget_gb"):
        load(params)


def test_unknown_profile_is_a_clean_cli_error(tmp_path: Path) -> None:
    params = tmp_path / "params.yaml"
    params.write_text("train: {}\nprofiles: {large: {}}\n")
    result = CliRunner().invoke(app, ["run", "--params", str(params), "--profile", "huge"])
    assert result.exit_code != 0
    assert "unknown profile 'huge'" in " ".join(result.output.split())


def test_budget_skips_dense_models_with_the_arithmetic() -> None:
    shape = DataShape(n_users=162_541, n_items=62_423, nnz=25_000_095)
    reason = skip_reason("ease", {}, shape, int(12e9))
    assert reason == ("skipped: 3 dense items x items matrices (62,423 items) needs 93.5 GB "
                      "(budget 12.0 GB per fit)")
    assert skip_reason("popularity", {}, shape, int(12e9)) is None
    assert skip_reason("sparse_ease", {"neighbors": 100}, shape, int(12e9)) is None
    assert skip_reason("ease", {}, shape, None) is None
    assert skip_reason("item_knn", {}, shape, None, max_pairs=10**9) == (
        "skipped: all-pairs similarity of 62,423 movies scores 3.9e+09 pairs "
        "(train.max_fit_pairs 1e+09)")
    assert skip_reason("item_knn", {}, shape, None, max_pairs=4 * 10**9) is None
    assert skip_reason("popularity", {}, shape, None, max_pairs=1) is None
    assert per_fit_budget(12.0, 2) == 6_000_000_000


def test_hybrid_estimate_names_its_dense_users_matrix() -> None:
    shape = DataShape(n_users=162_541, n_items=62_423, nnz=25_000_095)
    reason = skip_reason("hybrid", {}, shape, int(12e9))
    assert reason is not None and "dense" in reason


def test_data_shape_and_sampled_last_out() -> None:
    ratings = pd.DataFrame({"user_id": [1, 1, 1, 2, 2, 3, 4, 4],
                            "item_id": [1, 2, 3, 1, 4, 2, 3, 4],
                            "rating": 4.0, "timestamp": [1, 2, 3, 5, 4, 1, 1, 2]})
    assert data_shape(ratings) == DataShape(4, 4, 8)
    split = split_ratings(ratings, "sampled-last-out", seed=0, test_size=0.67)
    # two of the three users with two or more ratings, each losing their last rating only
    assert len(split.test) == 2
    last = {1: 3, 2: 1, 4: 4}
    for row in split.test.itertuples():
        assert last[row.user_id] == row.item_id
    assert len(split.train) == 6


def test_filter_stage_passes_its_calibration(tmp_path: Path) -> None:
    """The stage hands ``filter.calibration`` to the filter: ``dataset`` with a detector
    other than the ensemble is refused there (the reference calibration would accept it)."""
    from flows.stages.filter import filter_task
    from recsys.shilling.filter import FilterConfig

    ratings = tmp_path / "ratings.parquet"
    pd.DataFrame({"user_id": [1, 1, 2, 2], "item_id": [1, 2, 1, 3], "rating": 4.0,
                  "timestamp": [1, 2, 3, 4]}).to_parquet(ratings)
    config = FilterConfig(detector="pca_varselect", calibration="dataset")
    with pytest.raises(ValueError, match="calibration 'dataset' needs the ensemble"):
        filter_task.fn(str(ratings), str(tmp_path / "out"), str(tmp_path / "reports"), config)
