"""Registered files that cannot run code or lie (``recsys.tracking.artifacts``), against a
real (SQLite-backed) MLflow store."""

from __future__ import annotations

import json
import pickle
import shutil
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

import pytest

from tests.tracking.test_registry import _log_and_register

pytestmark = pytest.mark.integration


class _Payload:
    """A pickle that creates ``marker`` when it is unpickled (as a shell command would run)."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Any, ...]:
        return (Path.touch, (self.marker,))


def _version_dir(uri: str, model_name: str, version: str) -> Path:
    """Where the registry keeps the version's files (the embedded store: a local folder)."""
    from mlflow.tracking import MlflowClient

    location = MlflowClient(uri, uri).get_model_version_download_uri(model_name, version)
    return Path(unquote(urlparse(str(location)).path))


def test_manifest_round_trip_names_the_changed_file(fitted: dict[str, dict], tmp_path: Path) -> None:
    from recsys.tracking.artifacts import ArtifactIntegrityError, verify_manifest, write_manifest

    folder = shutil.copytree(fitted["ease"]["dir"], tmp_path / "ease")
    manifest = write_manifest(folder)
    assert set(manifest) >= {"model.json", "arrays.npz"}
    assert all(len(d) == 64 for d in manifest.values())
    verify_manifest(folder, manifest)
    (folder / "model.json").write_text((folder / "model.json").read_text() + " ")
    with pytest.raises(ArtifactIntegrityError, match=r"model\.json: sha256 [0-9a-f]{64} does "
                                                      r"not match the registered [0-9a-f]{64}"):
        verify_manifest(folder, manifest)
    (folder / "model.json").unlink()
    with pytest.raises(ArtifactIntegrityError, match=r"model\.json: missing"):
        verify_manifest(folder, manifest)


def test_tampered_pickle_is_never_executed(fitted: dict[str, dict], tracking_uri: str,
                                           model_name: str, tmp_path: Path) -> None:
    """A crafted ``python_model.pkl`` in the champion's files: loading the champion refuses
    the changed file and never unpickles it (the marker is never created)."""
    from recsys.tracking.artifacts import ArtifactIntegrityError
    from recsys.tracking.registry import load_champion

    _log_and_register("ease", fitted, tracking_uri, model_name)
    pkl = _version_dir(tracking_uri, model_name, "1") / "python_model.pkl"
    assert pkl.is_file()
    marker = tmp_path / "pwned"
    pkl.write_bytes(pickle.dumps(_Payload(marker)))
    with pytest.raises(ArtifactIntegrityError, match=r"python_model\.pkl: sha256 .* does not match"):
        load_champion(model_name, tracking_uri=tracking_uri)
    assert not marker.exists(), "the tampered pickle was executed"


def test_swapped_model_files_are_refused(fitted: dict[str, dict], tracking_uri: str,
                                         model_name: str) -> None:
    """The champion's (ease) model files replaced by a popularity model's: refused, not
    served as ``ease`` with ``ease``'s metrics."""
    from recsys.tracking.artifacts import ArtifactIntegrityError
    from recsys.tracking.registry import load_champion

    _log_and_register("ease", fitted, tracking_uri, model_name)
    root = _version_dir(tracking_uri, model_name, "1")
    model_json = next(root.rglob("model.json"))
    shutil.rmtree(model_json.parent)
    shutil.copytree(fitted["popularity"]["dir"], model_json.parent)
    with pytest.raises(ArtifactIntegrityError, match="does not match the registered|missing"):
        load_champion(model_name, tracking_uri=tracking_uri)


def test_mislabelled_version_is_refused(fitted: dict[str, dict], tracking_uri: str,
                                        model_name: str) -> None:
    """Files intact but the version's records say another variant: the loader checks the
    loaded model against the records, so metadata cannot describe another model."""
    from mlflow.tracking import MlflowClient

    from recsys.tracking.artifacts import ArtifactIntegrityError, load_registered

    _log_and_register("ease", fitted, tracking_uri, model_name)
    client = MlflowClient(tracking_uri, tracking_uri)
    client.set_model_version_tag(model_name, "1", "variant", "popularity")
    with pytest.raises(ArtifactIntegrityError, match="hold a 'ease' model but the version "
                                                     "records 'popularity'"):
        load_registered(model_name, alias="champion", tracking_uri=tracking_uri)


def test_loader_returns_model_and_recorded_metadata(fitted: dict[str, dict], tracking_uri: str,
                                                    model_name: str) -> None:
    from recsys.tracking.artifacts import ArtifactIntegrityError, load_registered

    decision = _log_and_register("ease", fitted, tracking_uri, model_name)
    loaded = load_registered(model_name, version="1", tracking_uri=tracking_uri)
    assert (loaded.version, loaded.dataset, loaded.variant, loaded.alias) == (
        "1", "ml-100k", "ease", "champion")
    assert loaded.metrics["ndcg_at_10"] == decision.challenger_score
    assert type(loaded.recommender).__name__ == "EASE"
    direct = fitted["ease"]["model"].recommend([1, 2], k=5).frame
    assert loaded.recommender.recommend([1, 2], k=5).frame["item_id"].tolist() == \
        direct["item_id"].tolist()
    assert "python_model.pkl" in loaded.manifest
    with pytest.raises(ArtifactIntegrityError, match="trained on ml-100k, not ml-latest-small"):
        load_registered(model_name, version="1", dataset="ml-latest-small",
                        tracking_uri=tracking_uri)


def test_identity_ignores_fit_timings(fitted: dict[str, dict], tracking_uri: str,
                                      model_name: str, tmp_path: Path) -> None:
    """Retraining an identical setup writes other ``fit_seconds``: same model, no new version."""
    from recsys.tracking.artifacts import model_identity

    twin = shutil.copytree(fitted["ease"]["dir"], tmp_path / "ease-again")
    meta = json.loads((twin / "model.json").read_text())
    meta["fit_seconds"] = (meta.get("fit_seconds") or 1.0) + 3.25
    (twin / "model.json").write_text(json.dumps(meta, indent=2))
    metrics = {**fitted["ease"]["metrics"], "fit_seconds": meta["fit_seconds"]}
    (twin / "metrics.json").write_text(json.dumps(metrics))
    assert model_identity(twin) == model_identity(fitted["ease"]["dir"])
    first = _log_and_register("ease", fitted, tracking_uri, model_name)
    again = _log_and_register("ease", {"ease": {"dir": twin, "metrics": metrics}},
                              tracking_uri, model_name)
    assert first.version == "1" and again.reused and again.version == "1"
