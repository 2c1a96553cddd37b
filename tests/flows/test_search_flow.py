"""The train stage with a hyperparameter search, on the local runner: every trial is a task,
the chosen settings are the best validation trial's, the test split takes no part in the
choice, a failed trial is recorded while the others count, and a variant whose trials all
fail is a failed variant with the reason."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from flows.stages.train import SplitPaths, Training, train
from recsys.evaluation.search import SearchConfig, Trial, run_trial, validation_split
from recsys.params import params_model

pytestmark = pytest.mark.integration

GRIDS = {"item_knn": {"grid": {"neighbours": [5, 20, 80]}},
         "ials": {"grid": {"factors": [8, 32], "regularization": [1.0, 20.0]}, "max_trials": 3}}


@pytest.fixture(scope="module")
def split_paths(tmp_path_factory: pytest.TempPathFactory,
                ml100k: tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]) -> dict[str, str]:
    """A ms-stratified split of users 1-300, and a second test file: the same test ratings
    of only every other user (a different test split of the same training ratings)."""
    from recsys.evaluation.splits import split_ratings

    ratings, items, _ = ml100k
    root = tmp_path_factory.mktemp("search-split")
    split = split_ratings(ratings[ratings["user_id"] <= 300], seed=5)
    paths = {name: str(root / f"{name}.parquet")
             for name in ("train", "test", "other_test", "items")}
    split.train.to_parquet(paths["train"], index=False)
    split.test.to_parquet(paths["test"], index=False)
    split.test[split.test["user_id"] % 2 == 0].to_parquet(paths["other_test"], index=False)
    items.to_parquet(paths["items"], index=False)
    return paths


def _config(variants: dict[str, Any], models: list[str]) -> Any:
    return params_model().model_validate({"train": {
        "models": models, "parallelism": 2, "ials": {"iterations": 4},
        "search": {"seed": 2, "variants": variants}}}).train


def _train(paths: dict[str, str], models_dir: Path, *, test: str = "test",
           variants: dict[str, Any] | None = None,
           models: list[str] | None = None) -> Training:
    from flows.runtime import task_runner

    config = _config(GRIDS if variants is None else variants,
                     models or ["popularity", "item_knn", "ials"])
    out: Training = train.with_options(task_runner=task_runner("local", workers=2))(
        config, SplitPaths(paths["train"], paths[test]), paths["items"], str(models_dir), 10, 3)
    return out


@pytest.fixture(scope="module")
def searched(prefect_server: None, split_paths: dict[str, str],
             tmp_path_factory: pytest.TempPathFactory) -> Training:
    return _train(split_paths, tmp_path_factory.mktemp("models"))


def _table(training: Training, variant: str) -> pd.DataFrame:
    result = next(r for r in training.results if r.variant == variant)
    assert result.search is not None
    return result.search.table().drop(columns=["seconds"])


def test_the_chosen_settings_are_the_best_validation_trial(
        searched: Training, split_paths: dict[str, str]) -> None:
    assert searched.failed == {} and {r.variant for r in searched.results} == {
        "popularity", "item_knn", "ials"}
    train_ratings = pd.read_parquet(split_paths["train"])
    items = pd.read_parquet(split_paths["items"])
    # the validation part the flow must have used: the training ratings split again
    inner = validation_split(train_ratings, SearchConfig(seed=2))
    for result in searched.results:
        if result.variant == "popularity":
            assert result.search is None and result.trials == 0
            continue
        search = result.search
        assert search is not None and result.trials == len(search.trials)
        assert len(search.trials) == (3 if result.variant == "item_knn" else 3)
        scores = {t.number: t.score for t in search.trials}
        assert all(t.succeeded and t.seconds > 0 for t in search.trials)
        assert search.chosen.score == max(scores.values())
        # each recorded score is what that trial scores on the inner split, nothing else
        for trial in search.trials:
            again = run_trial(Trial(trial.variant, trial.number, trial.settings, trial.params),
                              inner.train, inner.test, items, k=10, seed=3)
            assert again.score == pytest.approx(trial.score, abs=1e-12), trial
        # the chosen settings were trained on the whole training split and saved
        assert result.params == search.chosen.params
        assert all(result.params[name] == value for name, value in search.chosen.settings.items())
        saved = Path(result.model_dir) / "model.json"
        assert saved.is_file() and all(f'"{name}"' in saved.read_text()
                                       for name in search.chosen.settings)


def test_the_test_split_takes_no_part_in_the_choice(
        searched: Training, split_paths: dict[str, str], tmp_path: Path) -> None:
    """Another test file, every task rerun (no cache): the trials score and choose the same,
    while the final metrics, which are computed on the test split, change."""
    from prefect.settings import PREFECT_TASKS_REFRESH_CACHE, temporary_settings

    with temporary_settings(updates={PREFECT_TASKS_REFRESH_CACHE: True}):
        other = _train(split_paths, tmp_path / "models", test="other_test")
    for variant in ("item_knn", "ials"):
        pd.testing.assert_frame_equal(_table(other, variant), _table(searched, variant))
        before = next(r for r in searched.results if r.variant == variant)
        after = next(r for r in other.results if r.variant == variant)
        assert after.params == before.params
        assert after.metrics["ndcg_at_10"] != before.metrics["ndcg_at_10"]


def test_a_failed_trial_is_recorded_and_the_others_count(
        prefect_server: None, split_paths: dict[str, str], tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """A fit that raises for one setting (the local runner runs tasks in this process)."""
    import recsys.evaluation.search as search

    real = search.fit_and_evaluate

    def fails_for_20(name: str, params: Any, *args: Any, **kwargs: Any) -> Any:
        if params.get("neighbours") == 20 or params.get("factors") is not None:
            raise MemoryError(f"{name} {params}: no memory for this one")
        return real(name, params, *args, **kwargs)

    monkeypatch.setattr(search, "fit_and_evaluate", fails_for_20)
    from prefect.settings import PREFECT_TASKS_REFRESH_CACHE, temporary_settings

    with temporary_settings(updates={PREFECT_TASKS_REFRESH_CACHE: True}):
        out = _train(split_paths, tmp_path / "models")
    knn = next(r for r in out.results if r.variant == "item_knn")
    assert knn.search is not None
    failed = [t for t in knn.search.trials if not t.succeeded]
    assert [t.settings for t in failed] == [{"neighbours": 20}]
    assert "MemoryError" in (failed[0].error or "") and "no memory" in (failed[0].error or "")
    assert knn.search.chosen.settings["neighbours"] in (5, 80) and knn.trials == 3
    # every ials trial failed: the variant fails with the reasons, the others are trained
    assert "ials" not in {r.variant for r in out.results}
    assert out.failed["ials"].startswith("search failed: all 3 trial(s) failed")
    assert "no memory" in out.failed["ials"]
    assert {r.variant for r in out.results} == {"popularity", "item_knn"}
