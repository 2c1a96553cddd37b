"""The viewer page travels inside the built Bento (bentofile.yaml includes bentos/web)."""

from __future__ import annotations

from pathlib import Path

import pytest

pytestmark = pytest.mark.integration


def test_built_bento_carries_the_page_and_its_routes(served_model_dir: Path, ml100k_dir: Path) -> None:
    import bentoml

    from bentos.build import build_bento

    bento = bentoml.get(build_bento(model_dir=served_model_dir, items=ml100k_dir / "items.parquet",
                                    version="pages"))
    web = Path(bento.path) / "src" / "bentos" / "web"
    assert (web / "__init__.py").is_file()
    for name in ("index.html", "viewer.css", "viewer.js"):
        assert (web / "static" / name).read_bytes() == (
            Path(__file__).resolve().parents[2] / "bentos" / "web" / "static" / name).read_bytes()
    # the service imports recsys.data (schema, catalogue): a "data/" exclude once dropped it
    for module in ("schema.py", "catalogue.py"):
        assert (Path(bento.path) / "src" / "recsys" / "data" / module).is_file(), module
    assert not (Path(bento.path) / "src" / "data").exists()
