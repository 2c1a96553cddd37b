"""``bentos.build``: the champion captured into the BentoML store and a Bento built around it."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration


def test_build_bento_captures_model_and_items(served_model_dir: Path, ml100k_dir: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    import bentoml

    from bentos.build import build_bento
    from bentos.service import model_from_bento_store

    assert "movierec-bentoml-" in os.environ["BENTOML_HOME"] or os.environ["BENTOML_HOME"]
    tag = build_bento(model_dir=served_model_dir, items=ml100k_dir / "items.parquet",
                      version="test")
    assert tag == "movierec:test"
    bento = bentoml.get(tag)
    assert [str(m.tag).split(":")[0] for m in bento.info.models] == ["movie-recommender"]
    assert (Path(bento.path) / "src" / "bentos" / "service.py").is_file()
    stored = model_from_bento_store("movie-recommender")
    assert stored is not None and stored.version == "7" and stored.variant
    assert stored.folder is not None and (stored.folder / "items.parquet").is_file()
    assert stored.metrics == {"ndcg_at_10": 0.123}
