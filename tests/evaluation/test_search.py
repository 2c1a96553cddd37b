"""Hyperparameter search in the library: grid expansion and its checks against each model's
own config, the seeded subset of a large grid, the inner validation split, trial scoring and
the choice of the best trial."""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from recsys.evaluation.search import (
    SearchConfig,
    SearchError,
    TrialResult,
    VariantSearch,
    choose_best,
    describe,
    grid_size,
    plan_trials,
)
from recsys.params import ParamsError, load, parse

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]


def _result(number: int, score: float | None, error: str | None = None,
            variant: str = "item_knn") -> TrialResult:
    return TrialResult(variant, number, {"neighbours": 10 * (number + 1)},
                       {"neighbours": 10 * (number + 1)}, score, 1.0, error)


def test_the_grid_is_the_product_in_declared_order_over_the_configured_settings() -> None:
    search = VariantSearch(grid={"factors": [16, 32], "regularization": [1, 2.5, 10]},
                           max_trials=10)
    trials = plan_trials("ials", search, {"iterations": 3, "factors": 64})
    assert [t.number for t in trials] == list(range(6))
    assert [t.settings for t in trials] == [
        {"factors": f, "regularization": r} for f in (16, 32) for r in (1.0, 2.5, 10.0)]
    # the grid replaces the file's value, the other settings stay; ints become the float
    # the config holds
    assert trials[0].params == {"iterations": 3, "factors": 16, "regularization": 1.0}
    assert all(isinstance(t.settings["regularization"], float) for t in trials)


def test_a_grid_larger_than_the_bound_is_a_seeded_subset() -> None:
    search = VariantSearch(grid={"factors": [8, 16, 32, 64], "regularization": [1.0, 5.0, 20.0],
                                 "alpha": [0.5, 1.0]}, max_trials=5)
    assert grid_size(search) == 24
    first = plan_trials("ials", search, {}, seed=3)
    again = plan_trials("ials", search, {}, seed=3)
    other = [plan_trials("ials", search, {}, seed=s) for s in range(4, 10)]
    assert first == again and len(first) == 5
    numbers = [t.number for t in first]
    assert numbers == sorted(set(numbers)) and all(0 <= n < 24 for n in numbers)
    full = {t.number: t.settings for t in plan_trials(
        "ials", search.model_copy(update={"max_trials": 24}), {})}
    assert all(full[t.number] == t.settings for t in first)  # real points of the grid
    assert any([t.number for t in o] != numbers for o in other)  # the seed matters


def test_a_huge_grid_is_never_materialised() -> None:
    search = VariantSearch(grid={name: list(range(1, 41)) for name in
                                 ("factors", "iterations", "cg_steps", "seed")}, max_trials=3)
    start = time.perf_counter()
    trials = plan_trials("ials", search, {})
    assert grid_size(search) == 40 ** 4 and len(trials) == 3
    assert time.perf_counter() - start < 5.0


@pytest.mark.parametrize(("variant", "grid", "says"), [
    ("ials", {"factorz": [8]}, "ials.grid.factorz: not a field of ImplicitALSConfig"),
    ("ials", {"factors": ["many"]}, "ials.grid.factors: 'many'"),
    ("ials", {"factors": ["32"]}, "'32' is a str, the field holds int values"),
    ("ials", {"factors": [True]}, "True is a bool"),
    ("ials", {"factors": [0]}, "greater than or equal to 1"),
    ("ials", {"solver": ["numpy", "cuda"]}, "ials.grid.solver: 'cuda'"),
    ("ials", {"regularization": [10, 10.0]}, "10.0 is listed twice"),
    ("item_knn", {"similarity": ["pearson"]}, "item_knn.grid.similarity"),
    ("ease2", {"regularization": [1.0]}, "ease2: unknown model"),
])
def test_a_wrong_field_or_value_is_an_error(variant: str, grid: dict[str, list[Any]],
                                           says: str) -> None:
    with pytest.raises(SearchError, match=says.replace("(", r"\(")):
        plan_trials(variant, VariantSearch(grid=grid), {})


def test_an_empty_grid_or_value_list_is_refused() -> None:
    with pytest.raises(ValueError, match="no values to try for factors"):
        VariantSearch(grid={"factors": []})
    with pytest.raises(ValueError):
        VariantSearch(grid={})
    with pytest.raises(ValueError, match="unknown model"):
        SearchConfig(variants={"iasl": VariantSearch(grid={"factors": [8]})})


def _params(search: dict[str, Any], profile: str | None = None) -> Any:
    document = yaml.safe_load((ROOT / "params.yaml").read_text())
    document["train"]["search"] = search
    return parse(document, "params.yaml", profile)


@pytest.mark.parametrize(("search", "where"), [
    ({"variants": {"ials": {"grid": {"factorz": [8]}}}},
     "params.yaml: train.search.variants.ials.grid.factorz: not a field"),
    ({"variants": {"item_knn": {"grid": {"neighbours": [20, "lots"]}}}},
     "params.yaml: train.search.variants.item_knn.grid.neighbours: 'lots'"),
    ({"variants": {"ials": {"grid": {"factors": [8]}, "max_trial": 2}}},
     "train.search.variants.ials.max_trial: unknown key"),
    ({"protocol": "random"}, "train.search.protocol"),
    ({"validation_size": 1.5}, "train.search.validation_size"),
    # switched off, still checked
    ({"enabled": False, "variants": {"ials": {"grid": {"factorz": [8]}}}},
     "train.search.variants.ials.grid.factorz"),
])
def test_the_search_section_is_checked_when_the_file_is_parsed(search: dict[str, Any],
                                                               where: str) -> None:
    with pytest.raises(ParamsError, match=where.replace(".", r"\.")):
        _params(search)


def test_grid_values_are_checked_over_the_configured_settings() -> None:
    """A value valid alone but not with the file's other settings of that model (the
    grid point is validated whole, by the model's own config)."""
    document = yaml.safe_load((ROOT / "params.yaml").read_text())
    document["train"]["ials"] = {"solver": "implicit"}
    document["train"]["search"] = {"variants": {"ials": {"grid": {"factors": [8, 16]}}}}
    plans = parse(document).train.trials(["ials"])
    assert [t.params for t in plans["ials"]] == [{"solver": "implicit", "factors": 8},
                                                {"solver": "implicit", "factors": 16}]


def test_the_shipped_file_searches_by_default_and_not_in_the_large_profile() -> None:
    default = load(ROOT / "params.yaml")
    plans = default.train.trials(list(default.train.models))
    assert set(plans) == {"ials", "item_knn"}
    assert 2 <= max(len(p) for p in plans.values()) <= 4
    assert default.train.search.protocol == default.evaluate.protocol
    large = load(ROOT / "params.yaml", "large")
    assert large.train.trials(list(large.train.models)) == {}


def test_choose_best_takes_the_highest_finite_score_and_the_earlier_point_on_a_tie() -> None:
    results = [_result(0, 0.20), _result(1, 0.31), _result(2, 0.31), _result(3, math.nan),
               _result(4, None, "MemoryError")]
    outcome = choose_best(list(reversed(results)))
    assert outcome.chosen.number == 1
    assert [r.number for r in outcome.trials] == [0, 1, 2, 3, 4]
    table = outcome.table()
    assert list(table["chosen"]) == [False, True, False, False, False]
    assert table.loc[4, "error"] == "MemoryError"
    assert "neighbours=20" in describe(outcome) and "5 trial(s), 2 failed" in describe(outcome)


def test_a_search_whose_trials_all_fail_says_why() -> None:
    with pytest.raises(SearchError, match=r"all 2 trial\(s\) failed: trial 0 .*boom; "
                                          r"trial 1 .*is nan"):
        choose_best([_result(0, None, "boom"), _result(1, math.nan)])
    with pytest.raises(SearchError, match="several variants"):
        choose_best([_result(0, 0.1), _result(1, 0.2, variant="ials")])
