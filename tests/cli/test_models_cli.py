"""``movierec fit|recommend|predict|evaluate`` end to end, and their errors for bad input."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from movierec.cli import app

pytestmark = pytest.mark.integration

runner = CliRunner()


def _flat(text: str) -> str:
    """Text with rich's line wrapping undone."""
    return " ".join(text.split())


def _available(name: str) -> bool:
    from recsys.models import model_class

    try:
        model_class(name)
    except ImportError:
        return False
    return True


MODELS = ["popularity", pytest.param("baseline", marks=pytest.mark.skipif(
    not _available("baseline"), reason="baseline model not importable yet"))]


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory, ml100k_dir: Path) -> dict[str, Path]:
    """A training CSV (real ratings of 60 users), a pairs CSV and a users file."""
    root = tmp_path_factory.mktemp("cli")
    ratings = pd.read_parquet(ml100k_dir / "ratings.parquet")
    train = ratings[ratings["user_id"] <= 60]
    train.to_csv(root / "train.csv", index=False)
    pd.DataFrame({"user_id": [1, 2, 424242], "item_id": [50, 1, 1]}).to_csv(
        root / "pairs.csv", index=False)
    (root / "users.txt").write_text("1\n2\n424242\n")
    pd.DataFrame({"user_id": [3, 4], "other": [0, 0]}).to_csv(root / "users.csv", index=False)
    return {"root": root, "train": root / "train.csv", "pairs": root / "pairs.csv",
            "users": root / "users.txt", "users_csv": root / "users.csv",
            "processed": ml100k_dir.parent}


def _fit(ws: dict[str, Path], model: str, out: Path, *extra: str) -> object:
    return runner.invoke(app, ["fit", "--dataset", "ml-100k", "--train", str(ws["train"]),
                               "--model", model, "--out", str(out), "--processed-dir",
                               str(ws["processed"]), *extra])


@pytest.mark.parametrize("model", MODELS)
def test_fit_recommend_predict(workspace: dict[str, Path], model: str) -> None:
    out = workspace["root"] / f"model-{model}"
    fitted = _fit(workspace, model, out)
    assert fitted.exit_code == 0, fitted.output
    assert (out / "model.json").is_file()
    assert f"-> {out}" in _flat(fitted.stderr) and model in fitted.stderr

    rec = runner.invoke(app, ["recommend", "--model-dir", str(out), "--users",
                              str(workspace["users"]), "-k", "5"])
    assert rec.exit_code == 0, rec.output
    lines = [json.loads(line) for line in rec.stdout.splitlines()]
    assert [line["user_id"] for line in lines] == [1, 2, 424242]
    train = pd.read_csv(workspace["train"])
    for line in lines:
        assert len(line["items"]) == 5
        assert set(line["items"][0]) == {"item_id", "score"}
        seen = set(train.loc[train["user_id"] == line["user_id"], "item_id"])
        assert not seen & {item["item_id"] for item in line["items"]}
    assert "cold_start" not in lines[0] and lines[2]["cold_start"] is True

    pred = runner.invoke(app, ["predict", "--model-dir", str(out), "--pairs",
                               str(workspace["pairs"])])
    assert pred.exit_code == 0, pred.output
    header, *rows = pred.stdout.strip().splitlines()
    assert header == "user_id,item_id,prediction" and len(rows) == 3
    target = workspace["root"] / f"pred-{model}.csv"
    runner.invoke(app, ["predict", "--model-dir", str(out), "--pairs", str(workspace["pairs"]),
                        "--out", str(target)])
    assert list(pd.read_csv(target).columns) == ["user_id", "item_id", "prediction"]


def test_recommend_single_user_and_csv_users(workspace: dict[str, Path]) -> None:
    out = workspace["root"] / "model-pop-params"
    assert _fit(workspace, "popularity", out, "--param", "mode=damped_mean",
                "--param", "damping=5").exit_code == 0
    assert json.loads((out / "model.json").read_text())["config"] == {
        "mode": "damped_mean", "damping": 5.0}
    one = runner.invoke(app, ["recommend", "--model-dir", str(out), "--user", "1", "-k", "3"])
    assert one.exit_code == 0 and len(json.loads(one.stdout)["items"]) == 3
    csv = runner.invoke(app, ["recommend", "--model-dir", str(out), "--users",
                              str(workspace["users_csv"])])
    assert [json.loads(x)["user_id"] for x in csv.stdout.splitlines()] == [3, 4]


def test_evaluate_writes_metrics(workspace: dict[str, Path]) -> None:
    target = workspace["root"] / "metrics.json"
    result = runner.invoke(app, ["evaluate", "--dataset", "ml-100k", "--model", "popularity",
                                 "--protocol", "leave-last-out", "-k", "5", "--out", str(target),
                                 "--processed-dir", str(workspace["processed"])])
    assert result.exit_code == 0, result.output
    metrics = json.loads(target.read_text())
    assert {"ndcg_at_5", "precision_at_5", "coverage", "fit_seconds"} <= set(metrics)
    assert "ndcg_at_5" in result.stderr  # the table


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--model", "no-such-model"], "unknown model"),
        (["--model", "popularity", "--param", "colour=red"], "Valid keys: mode, damping"),
        (["--model", "popularity", "--param", "mode=sideways"], "bad --param"),
        (["--model", "popularity", "--param", "novalue"], "expected key=value"),
        # a rule across fields reads as its message, without pydantic's location/prefix
        (["--model", "ease", "--param", "diagonal=free"],
         "bad --param for model 'ease': diagonal='free' needs dropout > 0"),
    ],
)
def test_fit_bad_model_or_params(workspace: dict[str, Path], args: list[str], message: str) -> None:
    result = runner.invoke(app, ["fit", "--train", str(workspace["train"]), "--out",
                                 str(workspace["root"] / "bad"), "--processed-dir",
                                 str(workspace["processed"]), *args])
    assert result.exit_code == 1
    assert message in _flat(result.stderr)
    assert "Traceback" not in result.output


def test_fit_missing_columns_and_missing_items(workspace: dict[str, Path]) -> None:
    result = runner.invoke(app, ["fit", "--train", str(workspace["pairs"]), "--model",
                                 "popularity", "--out", str(workspace["root"] / "bad"),
                                 "--processed-dir", str(workspace["processed"])])
    assert result.exit_code == 1
    assert "missing column(s) rating, timestamp" in _flat(result.stderr)
    result = _fit({**workspace, "processed": workspace["root"] / "empty"}, "popularity",
                  workspace["root"] / "bad")
    assert result.exit_code == 1
    assert "movierec data fetch" in _flat(result.stderr)


@pytest.mark.parametrize("users", [[], ["--user", "1", "--users", "FILE"]])
def test_recommend_needs_exactly_one_of_user_users(
    workspace: dict[str, Path], users: list[str]
) -> None:
    args = [str(workspace["users"]) if a == "FILE" else a for a in users]
    result = runner.invoke(app, ["recommend", "--model-dir", str(workspace["root"]), *args])
    assert result.exit_code == 1 and "exactly one of --user" in _flat(result.stderr)


def test_recommend_without_a_model(workspace: dict[str, Path]) -> None:
    result = runner.invoke(app, ["recommend", "--model-dir", str(workspace["root"] / "none"),
                                 "--user", "1"])
    assert result.exit_code == 1 and "no saved model" in _flat(result.stderr)
