"""``bentos.build``: the champion captured into the BentoML store and a Bento built around it."""

from __future__ import annotations

import os
from pathlib import Path

import httpx
import pytest

pytestmark = pytest.mark.integration


def test_build_bento_captures_model_and_items(served_model_dir: Path, ml100k_dir: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    import bentoml

    from bentos.build import build_bento
    from bentos.model_source import model_from_bento_store

    assert "movierec-bentoml-" in os.environ["BENTOML_HOME"] or os.environ["BENTOML_HOME"]
    tag = build_bento(model_dir=served_model_dir, items=ml100k_dir / "items.parquet",
                      version="test")
    assert tag == "movierec:test"
    bento = bentoml.get(tag)
    assert [str(m.tag).split(":")[0] for m in bento.info.models] == ["movie-recommender-ml-100k"]
    assert (Path(bento.path) / "src" / "bentos" / "service.py").is_file()
    stored = model_from_bento_store("movie-recommender-ml-100k")
    assert stored is not None and stored.version == "7" and stored.variant
    assert stored.folder is not None and (stored.folder / "items.parquet").is_file()
    assert stored.metrics == {"ndcg_at_10": 0.123}


def test_only_a_built_bento_falls_back_to_its_captured_model(
    served_model_dir: Path, ml100k_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """From a source checkout with no champion, the service refuses to start rather than
    serve whatever model some other build left in the machine's BentoML store; the Bento's
    own copy of the service finds the exact model its bento.yaml names."""
    import bentoml

    from bentos.build import build_bento
    from bentos.model_source import bento_model_tag, model_from_bento_store, resolve_model
    from recsys.serving.config import ServeConfig

    bento = bentoml.get(build_bento(model_dir=served_model_dir,
                                    items=ml100k_dir / "items.parquet", version="fallback"))
    monkeypatch.chdir(tmp_path)  # no mlflow.db here
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.delenv("MOVIEREC_MODEL_DIR", raising=False)
    assert bentoml.models.list("movie-recommender-ml-100k"), "the store holds a model..."
    with pytest.raises(RuntimeError, match="no model to serve"):
        resolve_model(ServeConfig())  # ...which a source checkout must not pick up
    assert bento_model_tag("movie-recommender-ml-100k") is None
    inside = Path(bento.path) / "src" / "bentos" / "service.py"
    tag = bento_model_tag("movie-recommender-ml-100k", here=inside)
    assert tag == str(bento.info.models[0].tag)
    stored = model_from_bento_store("movie-recommender-ml-100k", tag)
    assert stored is not None and stored.source == f"bento:{tag}"


def test_a_bento_built_for_another_dataset_serves_it(
    served_model_dir: Path, ml100k_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The Bento carries the project's params.yaml (data.dataset: ml-100k); one built for
    another dataset serves that dataset's captured model under a real `bentoml serve`."""
    import bentoml

    from bentos.build import build_bento
    from bentos.model_source import bento_dataset
    from tests.serving.conftest import bentoml_serve

    monkeypatch.delenv("MOVIEREC_MODEL_DIR", raising=False)
    monkeypatch.delenv("MOVIEREC_DATASET", raising=False)
    tag = build_bento(model_dir=served_model_dir, items=ml100k_dir / "items.parquet",
                      version="other-dataset", dataset="synth-bento")
    bento = bentoml.get(tag)
    assert [str(m.tag).split(":")[0] for m in bento.info.models] == [
        "movie-recommender-synth-bento"]
    assert bento_dataset(Path(bento.path) / "src" / "bentos" / "service.py") == "synth-bento"
    assert bento_dataset() is None  # a source checkout serves params.yaml's dataset
    env = {"BENTOML_HOME": os.environ["BENTOML_HOME"],
           "MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path / 'empty.db'}",
           "MOVIEREC_INFERENCE_LOG": str(tmp_path / "log.jsonl"), "MOVIEREC_AVAILABILITY": "none"}
    with bentoml_serve(tag, tmp_path, env) as server, \
            httpx.Client(base_url=server.url, timeout=30) as http:
        model = http.get("/model").json()
        assert model["version"] == "7" and model["source"].startswith(
            "bento:movie-recommender-synth-bento:")
        answer = http.post("/recommend", json={"user_id": 1, "k": 3})
        assert answer.status_code == 200, answer.text
        assert len(answer.json()["items"]) == 3
