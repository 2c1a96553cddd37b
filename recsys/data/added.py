"""Register a dataset that is not one of the fixed releases (``movierec data add``).

``derive_spec`` reads a folder in ML-25M's file format (``ratings.csv``, ``movies.csv``, and
optionally ``links.csv``, ``tags.csv``, ``README.txt``) or ML-100K's (``u.data``, ``u.item``,
``u.user``, and optionally ``u.genre``, ``u.occupation``, ``u.info``, ``README``) and derives
what the registry records for a release from the data itself: the files' sha256, the rating
scale, the number of ratings, the mean rating and the period. The expectation suites are
generated from that entry like those of the fixed releases, so an added dataset is validated
against its own figures (a later truncated or shifted copy fails).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from recsys.data.fetch import fetch, sha256_of
from recsys.data.registry import (
    LAYOUT_CSV,
    LAYOUT_ML100K,
    DatasetSpec,
    check_name,
    record_dataset,
)
from recsys.data.schema import RatingScale
from recsys.validation.suites import DEFAULT_SUITES_DIR, ValidateConfig, write_suites

#: layout -> (required files, optional files)
LAYOUT_FILES: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    LAYOUT_CSV: (("ratings.csv", "movies.csv"), ("links.csv", "tags.csv", "README.txt")),
    LAYOUT_ML100K: (("u.data", "u.item", "u.user"), ("u.genre", "u.occupation", "u.info", "README")),
}


class AddDatasetError(ValueError):
    """The folder cannot be registered (unknown layout, unreadable or empty ratings)."""


@dataclass(frozen=True)
class AddedDataset:
    """What ``add_dataset`` recorded and wrote."""

    spec: DatasetSpec
    datasets_file: Path
    suites: list[Path]
    raw: Path


def detect_layout(folder: Path) -> str:
    """The layout of ``folder``: ML-25M's CSV files or ML-100K's ``u.*`` files."""
    for layout, (required, _) in LAYOUT_FILES.items():
        if all((folder / name).is_file() for name in required):
            return layout
    wanted = " or ".join(", ".join(req) for req, _ in LAYOUT_FILES.values())
    raise AddDatasetError(f"{folder}: expected the files {wanted}")


def _read_ratings(folder: Path, layout: str) -> pa.Table:
    """The rating and timestamp columns, read with pyarrow (25M rows in seconds)."""
    if layout == LAYOUT_CSV:
        path, names, parse = folder / "ratings.csv", None, pacsv.ParseOptions()
    else:
        path = folder / "u.data"
        names = ["user_id", "item_id", "rating", "timestamp"]
        parse = pacsv.ParseOptions(delimiter="\t")
    try:
        table = pacsv.read_csv(
            path, read_options=pacsv.ReadOptions(column_names=names), parse_options=parse,
            convert_options=pacsv.ConvertOptions(column_types={"rating": pa.float64(),
                                                               "timestamp": pa.int64()}),
        )
    except (pa.ArrowInvalid, OSError) as exc:
        raise AddDatasetError(f"{path}: not a ratings table ({exc})") from exc
    if table.num_columns < 4:
        raise AddDatasetError(f"{path}: expected user, item, rating and timestamp columns")
    return table.select([2, 3]).rename_columns(["rating", "timestamp"])


def rating_scale(ratings: np.ndarray) -> RatingScale:
    """The scale of the observed ratings: half stars when any rating is not whole."""
    values = np.unique(ratings)
    if not np.isfinite(values).all():
        raise AddDatasetError("ratings contain missing or non-finite values")
    step = 1.0 if np.all(values == np.round(values)) else 0.5
    if not np.all(values / step == np.round(values / step)):
        raise AddDatasetError(f"ratings are neither whole nor half stars: {values[:10].tolist()}")
    return RatingScale(float(values.min()), float(values.max()), step)


def derive_spec(name: str, source: Path) -> DatasetSpec:
    """The registry entry of the dataset in ``source``, derived from its files."""
    check_name(name)
    source = source.expanduser().resolve()
    if not source.is_dir():
        raise AddDatasetError(f"--source {source}: not a folder")
    layout = detect_layout(source)
    required, optional = LAYOUT_FILES[layout]
    names = [*required, *(n for n in optional if (source / n).is_file())]
    table = _read_ratings(source, layout)
    if table.num_rows == 0:
        raise AddDatasetError(f"{source}: no ratings")
    rating = table.column("rating").to_numpy()
    stamps = table.column("timestamp")
    return DatasetSpec(
        name=name,
        files={n: sha256_of(source / n) for n in names},
        url=None,
        archive_md5=None,
        archive_folder=name,
        scale=rating_scale(rating),
        n_ratings=int(table.num_rows),
        rating_mean=round(float(rating.mean()), 5),
        first_timestamp=int(pc.min(stamps).as_py()),
        last_timestamp=int(pc.max(stamps).as_py()),
        layout=layout,
        source=str(source),
    )


def add_dataset(
    name: str,
    source: Path,
    *,
    cache_dir: Path = Path("data/raw"),
    suites_dir: Path = DEFAULT_SUITES_DIR,
    config: ValidateConfig | None = None,
) -> AddedDataset:
    """Register ``source`` as ``name``: record its entry, copy its verified files into the raw
    cache and write its expectation suites. The entry goes to ``datasets_file()``
    (``./datasets.yaml`` or ``$MOVIEREC_DATASETS_FILE``), where every command finds it.

    Raises:
        AddDatasetError: for a folder that is not a dataset.
        ValueError: for an invalid name.
    """
    spec = derive_spec(name, source)
    recorded = record_dataset(spec)
    fetched = fetch(name, cache_dir=cache_dir, source=source, with_knowledge_graph=False)
    suites = write_suites(suites_dir, config, datasets=(name,))
    return AddedDataset(spec, recorded, suites, fetched.path)
