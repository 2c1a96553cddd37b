"""The dataset registry: what each MovieLens release is, where it comes from, how to check it.

The fixed releases live in code (``DATASETS``). Datasets a user adds with
``movierec data add`` (a synthetic set, their own catalogue) are recorded in the project file
``datasets.yaml`` (``$MOVIEREC_DATASETS_FILE`` overrides the path) and found by ``get_spec``
like the fixed ones.
"""

from __future__ import annotations

import os
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import yaml

from recsys.data.schema import HALF_STARS, INTEGER_STARS, RatingScale

GROUPLENS = "https://files.grouplens.org/datasets/movielens"
#: File layouts ``prepare`` reads: ML-25M's CSV files, ML-100K's ``u.*`` files, ML-1M's ``.dat``.
LAYOUT_CSV = "ml-25m"
LAYOUT_ML100K = "ml-100k"
LAYOUT_ML1M = "ml-1m"
LAYOUTS = (LAYOUT_CSV, LAYOUT_ML100K, LAYOUT_ML1M)
DATASETS_FILE = Path("datasets.yaml")
DATASETS_FILE_ENV = "MOVIEREC_DATASETS_FILE"
_NAME = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")


@dataclass(frozen=True)
class DatasetSpec:
    """One dataset: its files with sha256, its download, and the bounds its data must meet.

    Attributes:
        name: registry key, also the folder name in caches and mirrors.
        files: file name -> sha256 hex digest of the raw file. A digest of ``None`` means
            the value is not published anywhere we could check; the archive digest below
            then protects the download and the per-file digests are recorded on first
            fetch (trust on first use) in the cache manifest.
        url: GroupLens zip download (``None`` for an added dataset).
        archive_md5: the MD5 GroupLens publishes beside the zip.
        archive_folder: the folder inside the zip that holds ``files``.
        scale: the rating scale.
        n_ratings: expected number of ratings (validation allows a small tolerance).
        rating_mean: expected mean rating.
        first_timestamp, last_timestamp: the period the ratings cover (Unix seconds).
        recbole: for ML-100K, the knowledge-graph files from the ``recbole`` wheel.
        layout: which files ``prepare`` reads (one of ``LAYOUTS``).
        source: for an added dataset, the folder it was added from (fetch's local source).
    """

    name: str
    files: dict[str, str | None]
    url: str | None
    archive_md5: str | None
    archive_folder: str
    scale: RatingScale
    n_ratings: int
    rating_mean: float
    first_timestamp: int
    last_timestamp: int
    recbole: dict[str, str] = field(default_factory=dict)
    layout: str = LAYOUT_CSV
    source: str | None = None


#: The knowledge graph shipped inside ``recbole==1.2.1`` (recbole/dataset_example/ml-100k/).
RECBOLE_VERSION = "1.2.1"
RECBOLE_WHEEL_FOLDER = "recbole/dataset_example/ml-100k/"
RECBOLE_ML100K = {
    "ml-100k.inter": "4edb74e2a81178c2ba9ff381495f754f996c4aea351b1272ca36b43da0935eff",
    "ml-100k.item": "51d7cdf777ce5c0f5b32c1d947a4a81fe07d75e78abbe761e0cd4d0756064532",
    "ml-100k.kg": "200a0636fa07c218119a42e5bac7aa3e26e3665a6f919c1b22909bd412b14779",
    "ml-100k.link": "524dca2c3d62619688ab99b3ec53ea2acb9b64d38eafec3e02bdd0dc6bb7d948",
    "ml-100k.user": "4f670007d9cfbeb9807e757209af1555b9bcc186bde25e767f67cb67c6dd5972",
}

DATASETS: dict[str, DatasetSpec] = {
    "ml-100k": DatasetSpec(
        name="ml-100k",
        files={
            "u.data": "06416e597f82b7342361e41163890c81036900f418ad91315590814211dca490",
            "u.item": "553841ebc7de3a0fd0d6b62a204ea30c1e651aacfb2814c7a6584ac52f2c5701",
            "u.user": "f120e114da2e8cf314fd28f99417c94ae9ddf1cb6db8ce0e4b5995d40e90e62c",
            "u.genre": "9757e0d3e6b298159a80dd48eaf938114690e911e39af97a76949ef1663610bb",
            "u.occupation": "cd5fbec9afe345d993a62fc7817df1a4a9079c4feb267b3118763b8fd942137d",
            "u.info": "5b0a40b2e47a729ee6203063f6dcf8790c2e63f5a18663e6ee318a72c5f3c27b",
            "README": "4883b8cf340ed0059971b33f56ad3adc88a40792108ebca3d24aafc4c82e8b52",
        },
        url=f"{GROUPLENS}/ml-100k.zip",
        archive_md5="0e33842e24a9c977be4e0107933c0723",
        archive_folder="ml-100k",
        scale=INTEGER_STARS,
        n_ratings=100_000,
        rating_mean=3.52986,
        first_timestamp=874_724_710,
        last_timestamp=893_286_638,
        recbole=RECBOLE_ML100K,
        layout=LAYOUT_ML100K,
    ),
    "ml-latest-small": DatasetSpec(
        name="ml-latest-small",
        files={
            "ratings.csv": "aa289ca83157595d0df6aea1be6a4ded676ddc4385472e8313a8ed9805352646",
            "movies.csv": "5a5f32dd9bb3797b8e728a1b98958789d2b13f294a69fdfbc5727f8a9611aa07",
            "links.csv": "97ad18e4e56a09363c65676b6cb3482ce3e2cea2372a24620c1599c843325f31",
            "tags.csv": "92a9f8bb7916dceef6151209845788c3643f794dfa79d1feaec7121b5960399d",
            "README.txt": "63d22ac138e80fae37021797ed8e1b9424b5239dc576a137422adf783ae3f404",
        },
        url=f"{GROUPLENS}/ml-latest-small.zip",
        archive_md5=None,
        archive_folder="ml-latest-small",
        scale=HALF_STARS,
        n_ratings=100_836,
        rating_mean=3.50156,
        first_timestamp=828_124_615,
        last_timestamp=1_537_799_250,
    ),
    "ml-1m": DatasetSpec(
        name="ml-1m",
        files={"ratings.dat": None, "movies.dat": None, "users.dat": None, "README": None},
        url=f"{GROUPLENS}/ml-1m.zip",
        archive_md5="c4d9eecfca2ab87c1945afe126590906",
        archive_folder="ml-1m",
        scale=INTEGER_STARS,
        n_ratings=1_000_209,
        rating_mean=3.58156,
        first_timestamp=956_703_932,
        last_timestamp=1_046_454_590,
        layout=LAYOUT_ML1M,
    ),
    "ml-25m": DatasetSpec(
        name="ml-25m",
        files={
            "ratings.csv": None,
            "movies.csv": None,
            "links.csv": None,
            "tags.csv": None,
            "README.txt": None,
        },
        url=f"{GROUPLENS}/ml-25m.zip",
        archive_md5="6b51fb2759a8657d3bfcbfc42b592ada",
        archive_folder="ml-25m",
        scale=HALF_STARS,
        n_ratings=25_000_095,
        rating_mean=3.53385,
        first_timestamp=789_652_009,
        last_timestamp=1_574_327_703,
    ),
    # GroupLens publishes no checksum for ml-32m: the per-file digests are recorded on first
    # fetch. Counts and period from its README (ratings from January 9, 1995 to October 12,
    # 2023); the mean is the published figure rounded (the suite allows +-0.05 stars).
    "ml-32m": DatasetSpec(
        name="ml-32m",
        files={
            "ratings.csv": None,
            "movies.csv": None,
            "links.csv": None,
            "tags.csv": None,
            "README.txt": None,
        },
        url=f"{GROUPLENS}/ml-32m.zip",
        archive_md5=None,
        archive_folder="ml-32m",
        scale=HALF_STARS,
        n_ratings=32_000_204,
        rating_mean=3.54,
        first_timestamp=789_652_009,
        last_timestamp=1_697_155_199,
    ),
}

DEFAULT_DATASET = "ml-100k"


class UnknownDatasetError(ValueError):
    """Raised for a dataset name that is not in the registry."""


class DatasetsFileError(ValueError):
    """``datasets.yaml`` is unreadable or an entry in it is invalid."""


def datasets_file() -> Path:
    """Where added datasets are recorded: ``$MOVIEREC_DATASETS_FILE`` or ``./datasets.yaml``."""
    return Path(os.environ.get(DATASETS_FILE_ENV) or DATASETS_FILE)


def check_name(name: str) -> str:
    """An added dataset's name: lower-case, a folder name, not a fixed release's name."""
    if not _NAME.match(name):
        raise ValueError(f"dataset name {name!r}: use lower-case letters, digits, '.', '_' "
                         "or '-' (at most 64 characters, starting with a letter or digit)")
    if name in DATASETS:
        raise ValueError(f"dataset name {name!r} is a fixed registry entry; choose another")
    return name


def _spec_from_entry(name: str, entry: Any, path: Path) -> DatasetSpec:
    try:
        values = dict(entry)
        values["scale"] = RatingScale(**values["scale"])
        spec = DatasetSpec(name=name, **{k: v for k, v in values.items() if k != "name"})
    except (TypeError, KeyError, ValueError) as exc:
        raise DatasetsFileError(f"{path}: entry {name!r} is invalid ({exc})") from exc
    if spec.layout not in LAYOUTS:
        raise DatasetsFileError(f"{path}: entry {name!r} has unknown layout {spec.layout!r}")
    return spec


def added_datasets(path: Path | None = None) -> dict[str, DatasetSpec]:
    """The datasets recorded by ``movierec data add`` (empty when the file does not exist)."""
    path = path or datasets_file()
    if not path.is_file():
        return {}
    try:
        loaded = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise DatasetsFileError(f"{path}: not valid YAML ({' '.join(str(exc).split())})") from exc
    entries = loaded.get("datasets") if isinstance(loaded, dict) else None
    if not isinstance(entries, dict):
        raise DatasetsFileError(f"{path}: expected a mapping under 'datasets:'")
    return {str(name): _spec_from_entry(str(name), entry, path) for name, entry in entries.items()}


def record_dataset(spec: DatasetSpec, path: Path | None = None) -> Path:
    """Add (or replace) ``spec`` in the added-datasets file; returns the file."""
    path = path or datasets_file()
    check_name(spec.name)
    entries = {name: _entry(s) for name, s in added_datasets(path).items()}
    entries[spec.name] = _entry(spec)
    text = ("# Datasets added with `movierec data add` (recsys.data.registry); the fixed\n"
            "# MovieLens releases live in code.\n"
            + yaml.safe_dump({"datasets": entries}, sort_keys=True))
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text)
    tmp.replace(path)
    return path


def _entry(spec: DatasetSpec) -> dict[str, Any]:
    values = asdict(spec)
    del values["name"]
    return values


def all_datasets() -> dict[str, DatasetSpec]:
    """The fixed releases followed by the added datasets."""
    return {**DATASETS, **added_datasets()}


def get_spec(name: str) -> DatasetSpec:
    """Return the registry entry for ``name`` or raise a clear error listing the choices."""
    if name in DATASETS:
        return DATASETS[name]
    added = added_datasets()
    if name in added:
        return added[name]
    choices = ", ".join([*sorted(DATASETS), *sorted(added)])
    raise UnknownDatasetError(f"unknown dataset {name!r}; choose one of: {choices} "
                              "(or register a folder with `movierec data add NAME --source DIR`)")
