"""Fetch a MovieLens release into the local cache, verified file by file.

Sources are tried in order (unless one is named):

1. ``cache``: ``<cache>/<dataset>/`` whose files already match their sha256;
2. ``local``: a folder or zip given as ``source`` or found through ``MOVIEREC_DATA_MIRROR``
   (a folder holding ``ml-100k/``, ``ml-latest-small/`` ...);
3. ``grouplens``: the GroupLens zip;
4. ``recbole``: for ML-100K only, the copy inside the ``recbole==1.2.1`` wheel on the
   package index (the same 100,000 ratings plus a Freebase knowledge graph).

Every file is checked against its sha256 in a staging folder first; only a fully verified
set is moved into the cache, so a mismatch or an interruption never leaves a bad or half
written file behind.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import tempfile
import zipfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import httpx

from recsys.data.registry import (
    RECBOLE_VERSION,
    RECBOLE_WHEEL_FOLDER,
    DatasetSpec,
    get_spec,
)

MIRROR_ENV = "MOVIEREC_DATA_MIRROR"
INDEX_ENV = "MOVIEREC_PACKAGE_INDEX"
GROUPLENS_ENV = "MOVIEREC_GROUPLENS_URL"
DEFAULT_INDEX = "https://pypi.org/simple"
RECBOLE_WHEEL = f"recbole-{RECBOLE_VERSION}-py3-none-any.whl"
RECBOLE_WHEEL_SHA256 = "9c9948202011f37eb0a7c6768129313f00d6403ad221ec940d5e2d5d5f33a407"
MANIFEST = "manifest.json"
SOURCES = ("cache", "local", "grouplens", "recbole")

#: Reports progress: (description, bytes done, bytes total or None).
ProgressFn = Callable[[str, int, int | None], None]


class FetchError(RuntimeError):
    """No source could provide a verified copy of the dataset."""


class ChecksumError(FetchError):
    """A file's sha256 does not match the registry."""


@dataclass(frozen=True)
class FetchResult:
    """What ``fetch`` put where."""

    dataset: str
    path: Path
    source: str
    files: dict[str, str]
    knowledge_graph: Path | None


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _verify(folder: Path, expected: dict[str, str | None], origin: str) -> dict[str, str]:
    """Check each expected file in ``folder``; return name -> sha256 or raise."""
    found: dict[str, str] = {}
    missing = [name for name in expected if not (folder / name).is_file()]
    if missing:
        raise FetchError(f"{origin}: missing file(s) {', '.join(missing)} in {folder}")
    for name, want in expected.items():
        got = sha256_of(folder / name)
        if want is not None and got != want:
            raise ChecksumError(
                f"{origin}: sha256 mismatch for {name}: expected {want}, got {got}. "
                "The file is corrupt or not the published release; nothing was cached."
            )
        found[name] = got
    return found


def _recorded(folder: Path) -> dict[str, str]:
    try:
        return dict(json.loads((folder / MANIFEST).read_text())["files"])
    except (OSError, ValueError, KeyError):
        return {}


def _install(staging: Path, target: Path, files: dict[str, str], source: str) -> None:
    """Move a verified staging folder into place atomically (rename within one filesystem)."""
    (staging / MANIFEST).write_text(json.dumps({"source": source, "files": files}, indent=2))
    target.parent.mkdir(parents=True, exist_ok=True)
    backup = target.with_name(target.name + ".old")
    if target.exists():
        shutil.rmtree(backup, ignore_errors=True)
        target.rename(backup)
    staging.rename(target)
    target.chmod(0o755)  # mkdtemp made it private
    shutil.rmtree(backup, ignore_errors=True)


def _copy_members(names: Iterable[str], reader: Callable[[str], bytes], staging: Path) -> None:
    for name in names:
        (staging / name).write_bytes(reader(name))


def _reader(archive: zipfile.ZipFile, prefix: str) -> Callable[[str], bytes]:
    return lambda name: archive.read(prefix + name)


def _candidates(source: Path, spec: DatasetSpec, folder_name: str) -> list[Path]:
    """Folders under ``source`` that may hold the dataset's files."""
    return [source / folder_name, source / spec.archive_folder, source]


def _from_local(
    source: Path, spec: DatasetSpec, expected: dict[str, str | None], folder_name: str,
    staging: Path,
) -> None:
    if source.is_file() and zipfile.is_zipfile(source):
        with zipfile.ZipFile(source) as zf:
            names = zf.namelist()
            for prefix in (f"{folder_name}/", f"{spec.archive_folder}/", ""):
                if all(prefix + n in names for n in expected):
                    _copy_members(expected, _reader(zf, prefix), staging)
                    return
        raise FetchError(f"local: {source} does not contain the {spec.name} files")
    if not source.is_dir():
        raise FetchError(f"local: {source} is neither a folder nor a zip file")
    for folder in _candidates(source, spec, folder_name):
        if all((folder / n).is_file() for n in expected):
            for n in expected:
                shutil.copyfile(folder / n, staging / n)
            return
    raise FetchError(f"local: no folder under {source} holds {', '.join(expected)}")


def _local_folder(spec: DatasetSpec) -> Path | None:
    """The local source when none is given: an added dataset's own folder, else the mirror."""
    if spec.source:
        return Path(spec.source)
    return Path(os.environ[MIRROR_ENV]) if os.environ.get(MIRROR_ENV) else None


def _download(url: str, dest: Path, progress: ProgressFn | None, timeout: float = 30.0) -> None:
    """Stream ``url`` to ``dest`` via a temporary file renamed on success."""
    part = dest.with_name(dest.name + ".part")
    try:
        with httpx.stream("GET", url, timeout=timeout, follow_redirects=True) as response:
            response.raise_for_status()
            total = int(response.headers.get("content-length", 0)) or None
            done = 0
            with part.open("wb") as fh:
                for chunk in response.iter_bytes(1 << 16):
                    fh.write(chunk)
                    done += len(chunk)
                    if progress:
                        progress(dest.name, done, total)
        part.rename(dest)
    except httpx.HTTPError as exc:
        raise FetchError(f"download of {url} failed: {exc}") from exc
    finally:
        part.unlink(missing_ok=True)


def _from_grouplens(
    spec: DatasetSpec, expected: dict[str, str | None], staging: Path, progress: ProgressFn | None
) -> None:
    archive = staging / f"{spec.name}.zip"
    base = os.environ.get(GROUPLENS_ENV)
    assert spec.url is not None
    _download(f"{base.rstrip('/')}/{spec.name}.zip" if base else spec.url, archive, progress)
    if spec.archive_md5:
        got = hashlib.md5(archive.read_bytes()).hexdigest()  # noqa: S324 - GroupLens publishes MD5
        if got != spec.archive_md5:
            raise ChecksumError(f"grouplens: archive MD5 {got} != published {spec.archive_md5}")
    _from_local(archive, spec, expected, spec.name, staging)
    archive.unlink()


def _recbole_wheel_url(index: str) -> str:
    try:
        page = httpx.get(f"{index.rstrip('/')}/recbole/", timeout=30.0, follow_redirects=True)
        page.raise_for_status()
    except httpx.HTTPError as exc:
        raise FetchError(f"recbole: package index {index} unreachable: {exc}") from exc
    match = re.search(rf'href="([^"]*{re.escape(RECBOLE_WHEEL)}[^"]*)"', page.text)
    if not match:
        raise FetchError(f"recbole: {RECBOLE_WHEEL} not listed on {index}")
    url = match.group(1).split("#")[0]
    return url if "://" in url else f"{index.rstrip('/')}/recbole/{url}"


def _from_recbole(staging: Path, expected: dict[str, str], progress: ProgressFn | None) -> None:
    index = os.environ.get(INDEX_ENV, DEFAULT_INDEX)
    wheel = staging / RECBOLE_WHEEL
    _download(_recbole_wheel_url(index), wheel, progress)
    got = sha256_of(wheel)
    if got != RECBOLE_WHEEL_SHA256:
        raise ChecksumError(f"recbole: wheel sha256 {got} != {RECBOLE_WHEEL_SHA256}")
    with zipfile.ZipFile(wheel) as zf:
        _copy_members(expected, lambda n: zf.read(RECBOLE_WHEEL_FOLDER + n), staging)
    wheel.unlink()


def _try_sources(
    name: str,
    spec: DatasetSpec,
    expected: dict[str, str | None],
    target: Path,
    order: list[str],
    source_path: Path | None,
    progress: ProgressFn | None,
    errors: list[FetchError],
) -> tuple[str, dict[str, str]] | None:
    """Try each source in ``order`` for one file set; install the first verified copy."""
    for source in order:
        if source == "cache":
            if target.is_dir():
                recorded = _recorded(target)
                pinned = {n: (h or recorded.get(n)) for n, h in expected.items()}
                try:
                    return "cache", _verify(target, pinned, "cache")
                except FetchError as exc:
                    errors.append(exc)
            continue
        if source == "local":
            mirror = source_path or _local_folder(spec)
            if mirror is None:
                continue
        if source == "recbole" and not name.endswith("-recbole"):
            continue
        if source == "grouplens" and (name.endswith("-recbole") or spec.url is None):
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=target.parent))
        try:
            if source == "local":
                assert mirror is not None
                _from_local(mirror, spec, expected, name, staging)
            elif source == "grouplens":
                _from_grouplens(spec, expected, staging, progress)
            else:
                _from_recbole(staging, {n: h or "" for n, h in expected.items()}, progress)
            files = _verify(staging, expected, source)
            _install(staging, target, files, source)
            return source, files
        except FetchError as exc:
            errors.append(exc)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    return None


def fetch(
    dataset: str = "ml-100k",
    *,
    cache_dir: Path = Path("data/raw"),
    source: str | Path | None = None,
    progress: ProgressFn | None = None,
    with_knowledge_graph: bool = True,
) -> FetchResult:
    """Fetch ``dataset`` into ``cache_dir/<dataset>/`` and return where it is.

    Args:
        dataset: a registry name (``ml-100k``, ``ml-latest-small``, ``ml-1m``, ``ml-25m``).
        cache_dir: the raw-data cache; raw files there are never edited.
        source: ``None`` to try every source in order; one of ``cache``, ``local``,
            ``grouplens``, ``recbole`` to use only that one; or a path (folder or zip) to
            use as the local source.
        progress: called while downloading.
        with_knowledge_graph: for ML-100K, also fetch the RecBole knowledge graph when a
            source has it (best effort: its absence is not an error).

    Raises:
        FetchError: when no source gives a verified copy; the message lists each attempt.
    """
    spec = get_spec(dataset)
    source_path: Path | None = None
    if source is None:
        order = list(SOURCES)
    elif str(source) in SOURCES:
        order = [str(source)]
    else:
        source_path = Path(source).expanduser()
        if not source_path.exists():
            raise FetchError(f"--source {source_path} does not exist")
        order = ["local"]

    errors: list[FetchError] = []
    target = cache_dir / dataset
    kg_target = cache_dir / f"{dataset}-recbole"
    result = _try_sources(dataset, spec, spec.files, target, [s for s in order if s != "recbole"],
                          source_path, progress, errors)
    kg_files: tuple[str, dict[str, str]] | None = None
    if spec.recbole and (with_knowledge_graph or result is None):
        # The knowledge graph has no GroupLens source: cache, local mirror, then the wheel.
        kg_order = [s for s in order if s != "grouplens"]
        kg_files = _try_sources(f"{dataset}-recbole", spec, dict(spec.recbole), kg_target,
                                kg_order, source_path, progress, errors)
    if result is None and kg_files is None:
        tried = "\n  - ".join(map(str, errors)) if errors else "no source was configured"
        kind = ChecksumError if any(isinstance(e, ChecksumError) for e in errors) else FetchError
        raise kind(f"could not fetch {dataset}:\n  - {tried}")
    if result is None:
        assert kg_files is not None
        return FetchResult(dataset, kg_target, kg_files[0], kg_files[1], kg_target)
    return FetchResult(dataset, target, result[0], result[1], kg_target if kg_files else None)
