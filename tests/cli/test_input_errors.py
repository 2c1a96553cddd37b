"""The CLI's answer to user mistakes: one line naming the file or field, exit code 1, no
traceback and never a silently wrong result. Tiny hand-written inputs, no MovieLens needed."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from movierec.cli import app

pytestmark = pytest.mark.unit

runner = CliRunner()


def _flat(text: str) -> str:
    return " ".join(text.split())


def _rejected(result: object, *needles: str) -> str:
    """Assert a clean user error and return its flattened stderr."""
    text = _flat(result.stderr)  # type: ignore[attr-defined]
    assert result.exit_code == 1, result.output  # type: ignore[attr-defined]
    assert "Traceback" not in result.output  # type: ignore[attr-defined]
    assert text.startswith("error:"), text
    for needle in needles:
        assert needle in text, text
    return text


@pytest.fixture(scope="module")
def ws(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """An items table, a small valid training file (8 users x 6 items) and a fitted model."""
    root = tmp_path_factory.mktemp("cli-errors")
    processed = root / "processed"
    (processed / "ml-100k").mkdir(parents=True)
    items = pd.DataFrame({"item_id": range(1, 9), "title": [f"m{i}" for i in range(1, 9)],
                          "year": 1995, "genres": "Drama"})
    items.to_parquet(processed / "ml-100k" / "items.parquet", index=False)
    rows = [(u, i, float(1 + (u * i) % 5), 1000 + u * 10 + i)
            for u in range(1, 9) for i in range(1, 7) if (u + i) % 3]
    train = root / "train.csv"
    pd.DataFrame(rows, columns=["user_id", "item_id", "rating", "timestamp"]).to_csv(
        train, index=False)
    model = root / "model"
    fitted = _fit({"processed": processed, "train": train}, "popularity", model)
    assert fitted.exit_code == 0, fitted.output
    return {"root": root, "processed": processed, "train": train, "model": model}


def _fit(ws: dict[str, Path], model: str, out: Path, *extra: str, train: Path | None = None
         ) -> object:
    return runner.invoke(app, ["fit", "--dataset", "ml-100k", "--train", str(train or ws["train"]),
                               "--model", model, "--out", str(out), "--processed-dir",
                               str(ws["processed"]), *extra])


def _variant(ws: dict[str, Path], name: str, edit: object) -> Path:
    frame = pd.read_csv(ws["train"])
    frame = edit(frame)  # type: ignore[operator]
    path = ws["root"] / f"{name}.csv"
    frame.to_csv(path, index=False)
    return path


@pytest.mark.parametrize("model", ["baseline", "popularity"])
@pytest.mark.parametrize(
    ("name", "edit", "message"),
    [
        ("nan", lambda f: f.assign(rating=f["rating"].where(f.index % 4 > 0)),
         "column 'rating' has missing values in 8 rows (first: row 1)"),
        ("big", lambda f: f.assign(rating=f["rating"].where(f.index != 2, 500.0)),
         "column 'rating' is off the dataset's scale (1 to 5 in steps of 1) in 1 row"),
        ("dups", lambda f: pd.concat([f, f.head(2)], ignore_index=True),
         "2 duplicate (user_id, item_id) pair(s)"),
    ],
)
def test_fit_rejects_bad_ratings(ws: dict[str, Path], model: str, name: str, edit: object,
                                 message: str) -> None:
    path = _variant(ws, name, edit)
    out = ws["root"] / f"never-{name}"
    _rejected(_fit(ws, model, out, train=path), str(path), message)
    assert not out.exists()
