"""Registered model files that cannot run code or lie about what they are.

At registration the saved model folder (``BaseRecommender.save``: ``model.json``,
``arrays.npz``, ``.keras`` networks, ``metrics.json``) gets a *manifest*, its files' sha256
by relative path, written on the registered version as the tag ``artifacts.manifest``
(JSON), together with the variant, its configuration and the dataset.

:func:`load_registered` is the one way to load a registered version for serving:

1. it downloads the version's files (a copy; nothing is executed or unpickled);
2. :func:`verify_manifest` checks every file of the model folder against the manifest
   (a changed, missing or added file is an :class:`ArtifactIntegrityError` naming the file
   and both digests);
3. it loads the folder with the project's own loader (JSON + ``.npz`` with
   ``allow_pickle=False`` + ``.keras`` in Keras' safe mode) and never reads the MLflow
   pyfunc wrapper's ``python_model.pkl``, which stays only for MLflow's own tooling;
4. it checks the loaded model's variant and configuration (and, when asked, the dataset)
   against the version's recorded metadata.

:func:`model_identity` is the digest that says "the same model": the folder's content
without the fields that change on every fit of the same setup (``fit_seconds``, the
timings in ``metrics.json``).
"""

from __future__ import annotations

import hashlib
import json
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from recsys.models import BaseRecommender, load_model, read_model_meta
from recsys.tracking.mlflow_runs import resolve_tracking_uri
from recsys.tracking.registry import CHAMPION, RegistryError, _client

MANIFEST_TAG = "artifacts.manifest"
MODEL_PATH_TAG = "artifacts.model_path"
CONFIG_TAG = "model_config"
VARIANT_TAG = "variant"
DATASET_TAG = "dataset"
#: Files of a saved model folder that describe a fit, not the model (timings, scores).
VOLATILE_FILES = frozenset({"metrics.json"})
#: Keys of ``model.json`` that differ between two fits of the same setup.
VOLATILE_META_KEYS = frozenset({"fit_seconds"})


class ArtifactIntegrityError(RuntimeError):
    """Registered model files that differ from what was recorded at registration."""


def sha256_of(path: str | Path) -> str:
    digest = hashlib.sha256()
    with Path(path).open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _files(model_dir: Path) -> list[Path]:
    return sorted(p for p in model_dir.rglob("*") if p.is_file())


def write_manifest(model_dir: str | Path) -> dict[str, str]:
    """Every file of ``model_dir`` by relative POSIX path -> its sha256 (sorted by path)."""
    folder = Path(model_dir)
    if not folder.is_dir():
        raise ArtifactIntegrityError(f"{folder}: no model folder to describe")
    return {p.relative_to(folder).as_posix(): sha256_of(p) for p in _files(folder)}


def verify_manifest(model_dir: str | Path, manifest: dict[str, str]) -> None:
    """Check ``model_dir`` holds exactly the files of ``manifest`` with their digests.

    Raises:
        ArtifactIntegrityError: naming the first differing file with both digests, a missing
            file, or a file the manifest does not list.
    """
    folder = Path(model_dir)
    if not manifest:
        raise ArtifactIntegrityError(f"{folder}: empty manifest: nothing to verify against")
    actual = write_manifest(folder)
    for name, expected in sorted(manifest.items()):
        found = actual.get(name)
        if found is None:
            raise ArtifactIntegrityError(f"{folder / name}: missing (registered sha256 {expected})")
        if found != expected:
            raise ArtifactIntegrityError(
                f"{folder / name}: sha256 {found} does not match the registered {expected}: "
                "the registered model's files were changed after registration")
    extra = sorted(set(actual) - set(manifest))
    if extra:
        raise ArtifactIntegrityError(
            f"{folder / extra[0]}: not among the registered files (sha256 {actual[extra[0]]})")


def model_identity(model_dir: str | Path) -> str:
    """sha256 of the model itself: the folder minus ``VOLATILE_FILES`` and minus
    ``VOLATILE_META_KEYS`` of ``model.json``, so two fits of one setup share an identity."""
    folder = Path(model_dir)
    meta = {k: v for k, v in read_model_meta(folder).items() if k not in VOLATILE_META_KEYS}
    digest = hashlib.sha256()
    digest.update(json.dumps(meta, sort_keys=True).encode())
    for path in _files(folder):
        name = path.relative_to(folder).as_posix()
        if name in VOLATILE_FILES or name == "model.json":
            continue
        digest.update(name.encode() + b"\0" + sha256_of(path).encode())
    return digest.hexdigest()


def model_facts(version_dir: str | Path, model_path: str) -> dict[str, str]:
    """The version tags that pin a registered version's files (``version_dir``, the whole
    logged model, pyfunc wrapper included) and its model folder ``model_path`` inside:
    manifest, model path, variant and configuration."""
    meta = read_model_meta(Path(version_dir) / model_path)
    return {
        MANIFEST_TAG: json.dumps(write_manifest(version_dir), sort_keys=True),
        MODEL_PATH_TAG: model_path,
        VARIANT_TAG: str(meta["model"]),
        CONFIG_TAG: json.dumps(meta["config"], sort_keys=True),
    }


def _logged_model_dir(logged_root: Path) -> str:
    """The model folder's path inside a downloaded pyfunc model (from its ``MLmodel``)."""
    spec = yaml.safe_load((logged_root / "MLmodel").read_text()) or {}
    artifacts = ((spec.get("flavors") or {}).get("python_function") or {}).get("artifacts") or {}
    path = (artifacts.get("model_dir") or {}).get("path")
    if not path:
        raise ArtifactIntegrityError(f"{logged_root}: the logged model has no model_dir artifact")
    return str(path)


@dataclass(frozen=True)
class LoggedModel:
    """Where a logged model's files are, resolved against one store."""

    uri: str
    location: str
    model_id: str | None


def locate_logged(model_uri: str, tracking_uri: str | None) -> LoggedModel:
    """Resolve ``model_uri`` (``models:/<id>`` or ``models:/<name>/<version>``) on the store
    ``tracking_uri``.

    MLflow resolves a ``models:/`` URI against its process-global tracking URI, not the one
    a client was made with; resolving it here keeps a fresh process (a rerun after a crash,
    a worker) on the store it was given.
    """
    from mlflow.store.artifact.utils.models import get_model_name_and_version

    client = _client(tracking_uri)
    named = get_model_name_and_version(client, model_uri)
    if len(named) == 1:
        return LoggedModel(model_uri, str(client.get_logged_model(named[0]).artifact_location),
                           named[0])
    return LoggedModel(model_uri, str(client.get_model_version_download_uri(*named)), None)


def verify_logged(logged: LoggedModel, model_dir: str | Path, tracking_uri: str) -> dict[str, str]:
    """Check the logged model holds exactly ``model_dir``'s files (this run's own folder);
    the version tags pinning its files (``model_facts``). Nothing is unpickled.

    Raises:
        ArtifactIntegrityError: the logged files are not the folder's.
    """
    from mlflow.artifacts import download_artifacts

    with tempfile.TemporaryDirectory(prefix="movierec-logged-") as tmp:
        root = Path(download_artifacts(artifact_uri=logged.location, dst_path=tmp,
                                       tracking_uri=tracking_uri))
        relative = _logged_model_dir(root)
        try:
            verify_manifest(root / relative, write_manifest(model_dir))
        except ArtifactIntegrityError as exc:
            raise ArtifactIntegrityError(f"the logged model {logged.uri} is not this run's "
                                         f"model folder {model_dir}: {exc}") from None
        return model_facts(root, relative)


@dataclass(frozen=True)
class RegisteredModel:
    """A verified, loaded registry version and what the registry records about it."""

    recommender: BaseRecommender
    model_name: str
    version: str
    alias: str
    dataset: str | None
    variant: str
    metrics: dict[str, float]
    data_hash: str | None
    run_id: str | None
    manifest: dict[str, str] = field(default_factory=dict)


def manifest_of(tags: dict[str, str], where: str) -> dict[str, str]:
    """The manifest recorded in a version's ``tags``."""
    raw = tags.get(MANIFEST_TAG)
    if not raw:
        raise ArtifactIntegrityError(
            f"{where} has no recorded file digests ({MANIFEST_TAG}): it was registered before "
            "manifests existed or its registration did not finish; rerun `movierec run`")
    try:
        manifest = json.loads(raw)
    except ValueError:
        raise ArtifactIntegrityError(f"{where}: {MANIFEST_TAG} is not JSON") from None
    if not isinstance(manifest, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in manifest.items()):
        raise ArtifactIntegrityError(f"{where}: {MANIFEST_TAG} is not a path -> sha256 map")
    return manifest


def load_verified(model_dir: str | Path, tags: dict[str, str], *, where: str,
                  dataset: str | None = None) -> BaseRecommender:
    """Load the model folder ``model_dir`` of a version whose files were verified, after
    checking it is the variant, configuration (and ``dataset``) its ``tags`` record.

    Raises:
        ArtifactIntegrityError: a model that is not what the version records.
    """
    if dataset is not None and tags.get(DATASET_TAG) != dataset:
        raise ArtifactIntegrityError(
            f"{where} was trained on {tags.get(DATASET_TAG) or 'an unrecorded dataset'!s}, "
            f"not {dataset}")
    meta = read_model_meta(model_dir)
    if meta["model"] != tags.get(VARIANT_TAG):
        raise ArtifactIntegrityError(
            f"{where}: the files hold a {meta['model']!r} model but the version records "
            f"{tags.get(VARIANT_TAG)!r}")
    recorded = tags.get(CONFIG_TAG)
    if recorded is None or json.loads(recorded) != meta["config"]:
        raise ArtifactIntegrityError(
            f"{where}: the files' configuration {json.dumps(meta['config'], sort_keys=True)} "
            f"is not the recorded {recorded}")
    return load_model(model_dir)


def load_registered(
    model_name: str,
    *,
    version: str | int | None = None,
    alias: str | None = None,
    dataset: str | None = None,
    tracking_uri: str | None = None,
) -> RegisteredModel:
    """Load registry version ``version`` (or the one holding ``alias``) safely.

    This is the serving path's loader (see the module docstring): files are checked
    against the sha256 recorded at registration and loaded without unpickling anything.

    Args:
        model_name: the registered model (``recsys.tracking.registry.registered_name``).
        version, alias: which version (exactly one of them).
        dataset: when given, the version must have been trained on it.
        tracking_uri: the registry store (default as ``resolve_tracking_uri``).

    Raises:
        ArtifactIntegrityError: tampered, swapped or unrecorded files.
        recsys.tracking.registry.RegistryError: no such version or alias.
    """
    from mlflow.artifacts import download_artifacts
    from mlflow.exceptions import MlflowException

    if (version is None) == (alias is None):
        raise ValueError("give exactly one of version and alias")
    client = _client(tracking_uri)
    try:
        mv = (client.get_model_version(model_name, str(version)) if version is not None
              else client.get_model_version_by_alias(model_name, str(alias)))
    except MlflowException:
        what = f"version {version}" if version is not None else f"version with alias {alias!r}"
        raise RegistryError(f"{model_name} has no {what}: run the pipeline first") from None
    tags = dict(mv.tags or {})
    where = f"{model_name} v{mv.version}"
    manifest = manifest_of(tags, where)
    relative = tags.get(MODEL_PATH_TAG)
    if not relative:
        raise ArtifactIntegrityError(f"{where} has no recorded model path ({MODEL_PATH_TAG})")
    uri = resolve_tracking_uri(tracking_uri)
    with tempfile.TemporaryDirectory(prefix="movierec-registered-") as tmp:
        # a copy of the version's files; the pyfunc wrapper's pickle is checked, never read
        source = client.get_model_version_download_uri(model_name, str(mv.version))
        local = Path(download_artifacts(artifact_uri=str(source), dst_path=tmp, tracking_uri=uri))
        verify_manifest(local, manifest)
        recommender = load_verified(local / relative, tags, where=where, dataset=dataset)
    return RegisteredModel(
        recommender=recommender, model_name=model_name, version=str(mv.version),
        alias=alias or (CHAMPION if CHAMPION in (mv.aliases or []) else ""),
        dataset=tags.get(DATASET_TAG), variant=tags[VARIANT_TAG],
        metrics={k.removeprefix("metric."): float(v) for k, v in tags.items()
                 if k.startswith("metric.")},
        data_hash=tags.get("data_hash"), run_id=mv.run_id or tags.get("run_id"),
        manifest=manifest,
    )
