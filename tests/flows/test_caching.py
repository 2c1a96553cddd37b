"""Step caching: keys follow the library's code, cached results follow their model folder."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
from prefect import task

from flows.caching import content_key

pytestmark = pytest.mark.integration

calls: list[str] = []


@task(cache_key_fn=content_key, persist_result=True)
def record_call(marker: str) -> int:
    """A cached step whose result says how many times it really ran."""
    calls.append(marker)
    return len(calls)


@pytest.mark.unit
def test_library_digest_follows_every_file_but_bytecode(tmp_path: Path) -> None:
    from flows.caching import library_digest

    (tmp_path / "pkg" / "__pycache__").mkdir(parents=True)
    (tmp_path / "pkg" / "mod.py").write_text("X = 1\n")
    (tmp_path / "pkg" / "ref.npz").write_bytes(b"detector")
    first = library_digest(tmp_path / "pkg")
    (tmp_path / "pkg" / "__pycache__" / "mod.cpython-311.pyc").write_bytes(b"bytecode")
    library_digest.cache_clear()
    assert library_digest(tmp_path / "pkg") == first
    (tmp_path / "pkg" / "ref.npz").write_bytes(b"detector v2")
    library_digest.cache_clear()
    assert library_digest(tmp_path / "pkg") != first


def test_editing_library_code_invalidates_cached_steps(
    prefect_server: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An edit to ``recsys/models/base.py`` (not the step's own code, not its inputs) must
    rerun the step: its result may depend on it."""
    import recsys
    from flows import caching

    library = tmp_path / "recsys"
    shutil.copytree(Path(recsys.__file__).parent, library,
                    ignore=shutil.ignore_patterns("__pycache__"))
    monkeypatch.setattr(caching, "LIBRARY", library)
    marker = f"edit-{tmp_path.name}"
    assert record_call(marker) == record_call(marker)  # the second call is cached
    base = library / "models" / "base.py"
    base.write_text(base.read_text() + "\n# an edit\n")
    caching.library_digest.cache_clear()
    ran = len(calls)
    assert record_call(marker) == ran + 1


def test_cached_training_result_matches_the_model_on_disk(
    prefect_server: None, small_tables: dict[str, Any], tmp_path: Path, helpers: Any
) -> None:
    """Parameters A, then B, then A: the third run must not return A's cached result while
    the variant's folder holds B's model."""
    from flows.stages.train import SplitPaths, TrainedVariant, train
    from recsys.models import load_model
    from recsys.params import parse

    split = SplitPaths(**small_tables["a"])

    def run(regularization: float) -> TrainedVariant:
        config = parse({"train": {"models": ["ease"], "ease": {"regularization": regularization}}})
        with helpers.InFolder(tmp_path):
            out = train(config.train, split, small_tables["items"], str(tmp_path / "models"), 10, 5)
        assert out.failed == {}
        [result] = out.results
        return result

    first, _, again = run(123.0), run(456.0), run(123.0)
    assert again.params == {"regularization": 123.0}
    assert load_model(again.model_dir).config.regularization == 123.0
    assert again.metrics["ndcg_at_10"] == pytest.approx(first.metrics["ndcg_at_10"])
    assert again.outputs.changed() == []
