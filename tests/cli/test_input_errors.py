"""The CLI's answer to user mistakes: one line naming the file or field, exit code 1, no
traceback and never a silently wrong result. Tiny hand-written inputs, no MovieLens needed."""

from __future__ import annotations

import json
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
        ("unknown_item", lambda f: f.assign(item_id=f["item_id"].where(f.index != 3, 99999)),
         "1 row (first: row 4) rate item ids that ml-100k's items table does not have, "
         "e.g. 99999"),
    ],
)
def test_fit_rejects_bad_ratings(ws: dict[str, Path], model: str, name: str, edit: object,
                                 message: str) -> None:
    path = _variant(ws, name, edit)
    out = ws["root"] / f"never-{name}"
    _rejected(_fit(ws, model, out, train=path), str(path), message)
    assert not out.exists()


def test_recommend_repeated_users_once_each(ws: dict[str, Path]) -> None:
    users = ws["root"] / "users_dup.txt"
    users.write_text("3\n1\n3\n3\n424242\n1\n")
    result = runner.invoke(app, ["recommend", "--model-dir", str(ws["model"]), "--users",
                                 str(users), "-k", "2"])
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert [line["user_id"] for line in lines] == [3, 1, 424242]
    assert all(len(line["items"]) == 2 for line in lines)


HUGE = "99999999999999999999"


@pytest.mark.parametrize(
    ("kind", "content", "message"),
    [
        ("user", None, f"--user {HUGE} is out of range: ids are integers in 0..2**53"),
        ("users", f"1\n{HUGE}\n", f"entry 2 ('{HUGE}') is not a user id (an integer in 0..2**53)"),
        ("users", "user_id\n1\n-3\n", "entry 2 ('-3') is not a user id"),
        ("pairs", f"user_id,item_id\n{HUGE},1\n",
         "column 'user_id' holds ids that are missing or not integers in 0..2**53 in 1 row"),
        ("pairs", f"user_id,item_id\n1,{2**53 + 1}\n", "column 'item_id' holds ids"),
        ("pairs", "user_id,item_id\n1,\n", "column 'item_id' holds ids that are missing"),
    ],
)
def test_ids_beyond_the_service_bound_are_rejected(
    ws: dict[str, Path], kind: str, content: str | None, message: str
) -> None:
    path = ws["root"] / f"{kind}.in"
    if content is not None:
        path.write_text(content)
    if kind == "user":
        args = ["recommend", "--model-dir", str(ws["model"]), "--user", HUGE]
    elif kind == "users":
        args = ["recommend", "--model-dir", str(ws["model"]), "--users", str(path)]
    else:
        args = ["predict", "--model-dir", str(ws["model"]), "--pairs", str(path)]
    _rejected(runner.invoke(app, args), message)


def test_fit_out_is_checked_before_fitting(ws: dict[str, Path]) -> None:
    existing = ws["root"] / "a-file"
    existing.write_text("keep me")
    text = _rejected(_fit(ws, "popularity", existing), f"--out {existing}: exists and is not a folder")
    assert "fitted" not in text and existing.read_text() == "keep me"
    _rejected(_fit(ws, "popularity", Path("/proc/nope/model")),
              "--out /proc/nope/model: cannot write in /proc")


@pytest.mark.parametrize("command", ["predict", "detect"])
def test_unwritable_out_fails_before_the_work(ws: dict[str, Path], command: str) -> None:
    pairs = ws["root"] / "pairs.csv"
    pairs.write_text("user_id,item_id\n1,2\n")
    args = (["predict", "--model-dir", str(ws["model"]), "--pairs", str(pairs)]
            if command == "predict" else ["shilling", "detect", "--ratings", str(ws["train"])])
    text = _rejected(runner.invoke(app, [*args, "--out", "/proc/nope/x.csv"]),
                     "--out /proc/nope/x.csv: cannot write in /proc")
    assert "scoring" not in text
    folder = ws["root"]
    _rejected(runner.invoke(app, [*args, "--out", str(folder)]), "is a folder, expected a file")


def test_filter_refuses_out_equal_to_quarantine(ws: dict[str, Path]) -> None:
    same = ws["root"] / "same.csv"
    _rejected(runner.invoke(app, ["shilling", "filter", "--ratings", str(ws["train"]), "--out",
                                  str(same), "--quarantine", str(same)]),
              f"--out and --quarantine are the same file ({same})")
    assert not same.exists()
    _rejected(runner.invoke(app, ["shilling", "filter", "--ratings", str(ws["train"]), "--out",
                                  str(ws["train"]), "--quarantine", str(same)]),
              "--out must differ from --ratings")


def _corrupt(ws: dict[str, Path], name: str, how: str) -> Path:
    import shutil

    folder = ws["root"] / f"corrupt-{name}"
    shutil.rmtree(folder, ignore_errors=True)
    shutil.copytree(ws["model"], folder)
    meta = json.loads((folder / "model.json").read_text())
    if how == "truncated":
        data = (folder / "arrays.npz").read_bytes()
        (folder / "arrays.npz").write_bytes(data[: len(data) // 2])
    elif how == "no-arrays":
        (folder / "arrays.npz").unlink()
    elif how == "not-json":
        (folder / "model.json").write_text("not json")
    elif how == "format":
        (folder / "model.json").write_text(json.dumps({**meta, "format": 99}))
    elif how == "unknown":
        (folder / "model.json").write_text(json.dumps({**meta, "model": "nosuch"}))
    elif how == "bad-config":
        (folder / "model.json").write_text(json.dumps({**meta, "config": {"colour": 1}}))
    return folder


@pytest.mark.parametrize(
    ("how", "message"),
    [
        ("truncated", "corrupt or incomplete popularity model"),
        ("no-arrays", "corrupt or incomplete popularity model"),
        ("not-json", "model.json is not readable JSON"),
        ("format", "unsupported model format 99"),
        ("unknown", "unknown model 'nosuch'"),
        ("bad-config", "corrupt or incomplete popularity model"),
    ],
)
def test_corrupt_model_folder_is_named(ws: dict[str, Path], how: str, message: str) -> None:
    folder = _corrupt(ws, how, how)
    _rejected(runner.invoke(app, ["recommend", "--model-dir", str(folder), "--user", "1"]),
              f"error: {folder}", message)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--model", "ease", "--param", "regularization=Infinity"],
         "--param 'regularization=Infinity': Infinity is not allowed"),
        (["--model", "ease", "--param", "regularization=1e999"], "1e999 is not a finite number"),
        (["--model", "popularity", "--param", "mode=damped_mean", "--param", "damping=-5"],
         "damping: Input should be greater than 0"),
        (["--model", "mf", "--param", "factors=100000"],
         "not enough memory to fit mf with these parameters: Unable to allocate"),
    ],
)
def test_fit_bad_numbers_and_memory(ws: dict[str, Path], args: list[str], message: str) -> None:
    model, *extra = args[1:]
    out = ws["root"] / "never-params"
    _rejected(_fit(ws, model, out, *extra), message)


@pytest.mark.parametrize(
    ("exc", "message"),
    [
        (FileNotFoundError(2, "No such file or directory", "/proc/nope"),
         "/proc/nope: No such file or directory"),
        (PermissionError(13, "Permission denied", "/a'b/c"), "/a'b/c: Permission denied"),
        (OSError(18, "Invalid cross-device link", "/a", None, "/b"), "/a -> /b: Invalid cross-device link"),
        (KeyError("user_id"), "user_id"),
        (KeyError("it's 'quoted'"), "it's 'quoted'"),
        (ValueError("'a' is not 'b'"), "'a' is not 'b'"),
        (UnicodeDecodeError("utf-8", b"ab\xff", 2, 3, "invalid start byte"),
         "not UTF-8 text: byte 0xff at position 2 cannot be decoded"),
    ],
)
def test_error_handler_keeps_quotes_and_names_files(
    capsys: pytest.CaptureFixture[str], exc: BaseException, message: str
) -> None:
    import typer

    from movierec.commands.common import user_errors

    with pytest.raises(typer.Exit) as info, user_errors():
        raise exc
    assert info.value.exit_code == 1
    assert _flat(capsys.readouterr().err) == f"error: {message}"


def test_folder_given_as_input_file(ws: dict[str, Path]) -> None:
    _rejected(_fit(ws, "popularity", ws["root"] / "never-dir", train=ws["root"]),
              f"{ws['root']}: is a folder, expected a file")


def test_paths_with_brackets_are_printed_as_text(tmp_path: Path) -> None:
    """Error messages are text, not rich markup: a path like ``[/x]`` is named, not parsed."""
    odd = tmp_path / "[/x]" / "[bold]model"
    result = CliRunner().invoke(app, ["recommend", "--model-dir", str(odd), "--user", "1"])
    assert result.exit_code != 0
    assert "MarkupError" not in repr(result.exception)
    assert "[bold]model" in "".join(result.output.split())


def test_a_long_error_stays_on_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    """A log or a calling tool gets the whole message on one ``error:`` line (rich would
    otherwise wrap it at 80 columns when stderr is not a terminal)."""
    import typer

    from movierec.commands.common import fail

    message = "/a/long/path/" + "x" * 150 + "/ratings.csv: no such file"
    with pytest.raises(typer.Exit):
        fail(message)
    assert capsys.readouterr().err == f"error: {message}\n"


def test_long_work_without_a_terminal_leaves_progress_lines(capsys: pytest.CaptureFixture[str]) -> None:
    """No terminal (a log, CI): a spinner shows nothing, so long work prints a line every
    ``every`` seconds and its duration; short work prints nothing."""
    import time

    from movierec.commands.common import console, working

    assert not console.is_terminal
    with working("fitting hybrid on 75,000 ratings", every=0.1):
        time.sleep(0.35)
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) >= 2
    assert all(line.startswith("fitting hybrid on 75,000 ratings: still working (")
               for line in lines[:-1])
    assert lines[-1].startswith("fitting hybrid on 75,000 ratings: done in 0.")
    with working("a quick step", every=5.0):
        pass
    assert capsys.readouterr().err == ""
    with pytest.raises(RuntimeError), working("a failing step", every=0.1):
        time.sleep(0.35)
        raise RuntimeError("boom")
    lines = capsys.readouterr().err.splitlines()
    assert lines and all(line.startswith("a failing step: still working (") for line in lines)
    time.sleep(0.3)  # the heartbeat has stopped: nothing more arrives
    assert capsys.readouterr().err == ""
