"""Cache keys that see every input: suites and parameter sections, code outside ``recsys/``,
result-changing environment variables, library versions, and outputs still intact."""

from __future__ import annotations

import importlib.util
import shutil
import sys
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from prefect import flow, task

from flows import caching
from flows.caching import Outputs, cached_call, content_key, step_key

pytestmark = pytest.mark.integration

written: list[str] = []


def _step(marker: str) -> str:
    return marker


@pytest.mark.unit
def test_key_follows_the_step_module_not_just_the_function(tmp_path: Path) -> None:
    """A helper beside the step (same module) changes its result: the key must follow it."""
    module = tmp_path / "stage_mod.py"
    module.write_text("def helper():\n    return 1\n\n\ndef step(x):\n    return helper() + x\n")

    def key() -> str:
        spec = importlib.util.spec_from_file_location("stage_mod", module)
        assert spec is not None and spec.loader is not None
        loaded = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(loaded)
        return step_key("step", loaded.step, {"x": 1})

    before = key()
    module.write_text(module.read_text().replace("return 1", "return 2"))
    assert key() != before
    sys.modules.pop("stage_mod", None)


@pytest.mark.unit
def test_key_follows_source_folders_outside_recsys(tmp_path: Path) -> None:
    bentos = tmp_path / "bentos"
    bentos.mkdir()
    (bentos / "service.py").write_text("PORT = 1\n")
    before = step_key("build", _step, {}, sources=(bentos,))
    (bentos / "service.py").write_text("PORT = 2\n")
    caching.library_digest.cache_clear()
    assert step_key("build", _step, {}, sources=(bentos,)) != before


@pytest.mark.unit
@pytest.mark.parametrize("variable", ["OMP_NUM_THREADS", "PYTHONHASHSEED", "CUDA_VISIBLE_DEVICES"])
def test_key_follows_result_changing_environment(variable: str,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(variable, raising=False)
    before = step_key("train", _step, {"marker": "m"})
    monkeypatch.setenv(variable, "3")
    assert step_key("train", _step, {"marker": "m"}) != before


@pytest.mark.unit
def test_key_does_not_depend_on_tensorflow_having_been_imported(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """``import_keras`` fills in TensorFlow's variables: a step keyed before a neural model
    trained in this process must get the same key as one keyed after it."""
    from recsys.models._keras import TENSORFLOW_ENV

    for name in TENSORFLOW_ENV:
        monkeypatch.delenv(name, raising=False)
    before = step_key("train", _step, {"marker": "m"})
    for name, value in TENSORFLOW_ENV.items():
        monkeypatch.setenv(name, value)
    assert step_key("train", _step, {"marker": "m"}) == before
    monkeypatch.setenv("TF_ENABLE_ONEDNN_OPTS", "1")  # a user's own choice still counts
    assert step_key("train", _step, {"marker": "m"}) != before


@pytest.mark.unit
def test_key_follows_a_steps_own_environment_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MOVIEREC_PROFILE", raising=False)
    before = step_key("build", _step, {}, env=("MOVIEREC_PROFILE",))
    monkeypatch.setenv("MOVIEREC_PROFILE", "large")
    assert step_key("build", _step, {}, env=("MOVIEREC_PROFILE",)) != before
    assert step_key("other", _step, {}) == step_key("other", _step, {})


@pytest.mark.unit
@pytest.mark.parametrize("library", ["numpy", "scipy", "implicit", "tensorflow-cpu", "prefect",
                                     "great-expectations"])
def test_key_follows_library_versions(library: str, monkeypatch: pytest.MonkeyPatch) -> None:
    before = step_key("train", _step, {})
    real = caching._version
    monkeypatch.setattr(caching, "_version",
                        lambda name: "99.0" if name == library else real(name))
    assert step_key("train", _step, {}) != before


@pytest.mark.unit
def test_typed_configs_count_by_value() -> None:
    from recsys.validation.suites import ValidateConfig

    narrow = step_key("validate", _step, {"config": ValidateConfig(row_count_tolerance=0.02)})
    wide = step_key("validate", _step, {"config": ValidateConfig(row_count_tolerance=0.1)})
    assert narrow != wide


@task(cache_key_fn=content_key, persist_result=True)
def write_table(out_path_value: str, marker: str) -> Outputs:
    """A cached step that writes one file and records its digest."""
    written.append(marker)
    Path(out_path_value).write_text(f"{marker}\n" * 100)
    return Outputs.of([out_path_value])


def test_a_cached_step_whose_output_changed_runs_again(prefect_server: None,
                                                       tmp_path: Path) -> None:
    out = tmp_path / "table.csv"
    marker = f"intact-{tmp_path.name}"

    @flow
    def run() -> None:
        cached_call(write_table, lambda r: r, out_path_value=str(out), marker=marker)

    run()
    run()
    assert written.count(marker) == 1  # the second call was cached
    out.write_text(f"{marker}\n")  # truncated
    run()
    assert written.count(marker) == 2 and out.read_text() == f"{marker}\n" * 100


def test_truncated_prepared_ratings_are_rebuilt(prefect_server: None, mirror: Path,
                                                tmp_path: Path, helpers: Any) -> None:
    from flows.stages.ingest import ingest

    with helpers.InFolder(tmp_path):
        tables = ingest("ml-100k", "data/raw", "data/processed", str(mirror))
        ratings = Path(tables.ratings)
        pd.read_parquet(ratings).head(1000).to_parquet(ratings, index=False)
        again = ingest("ml-100k", "data/raw", "data/processed", str(mirror))
        assert len(pd.read_parquet(again.ratings)) == 100_000


def test_validate_step_follows_suites_and_validate_section(
    prefect_server: None, ml100k: tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame],
    tmp_path: Path, helpers: Any,
) -> None:
    """A truncated file fails at 2 % tolerance. Widening the tolerance and regenerating the
    suites must pass on the rerun, not replay the cached failure; a missing suite file is
    built from the ``validate:`` section, so the section alone must count too."""
    from flows.stages.validate import validate
    from recsys.validation.suites import ValidateConfig, write_suites

    ratings, items, users = ml100k
    paths = {name: str(tmp_path / f"{name}.parquet") for name in ("ratings", "items", "users")}
    ratings.head(95_000).to_parquet(paths["ratings"], index=False)  # 5 % short
    items.to_parquet(paths["items"], index=False)
    users.to_parquet(paths["users"], index=False)
    suites = tmp_path / "expectations"
    narrow, wide = ValidateConfig(row_count_tolerance=0.02), ValidateConfig(row_count_tolerance=0.1)

    def check(config: ValidateConfig) -> bool:
        with helpers.InFolder(tmp_path):
            outcome = validate(paths["ratings"], paths["items"], paths["users"], "ml-100k",
                               config, docs_dir=str(tmp_path / "docs"), suites_dir=str(suites))
        return outcome.success

    write_suites(suites, narrow, datasets=("ml-100k",))
    assert not check(narrow)
    write_suites(suites, wide, datasets=("ml-100k",))
    assert check(wide)  # the suites changed: validated again
    shutil.rmtree(suites)  # no suite files: built from the section
    assert not check(narrow)
    assert check(wide)
