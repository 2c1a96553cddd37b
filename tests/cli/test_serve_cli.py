"""``movierec serve``: inputs checked before BentoML starts, and signals reach the server.

No real server here (tests/serving starts the one real ``bentoml serve``): the checks fail
before the command would start it, and the signal test serves a stand-in process tree.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

import movierec.commands.serve as serve_module
from movierec.cli import app

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]
runner = CliRunner()


@pytest.fixture()
def no_server(monkeypatch: pytest.MonkeyPatch) -> None:
    def started(*args: object) -> int:
        raise AssertionError("bentoml serve must not start")

    monkeypatch.setattr(serve_module, "run_until_stopped", started)


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from recsys.data.interactions import Interactions
    from recsys.models import create

    frame = pd.DataFrame({"user_id": [1, 1, 2], "item_id": [1, 2, 2], "rating": [4.0, 3.0, 5.0],
                          "timestamp": [0, 1, 2]})
    folder = tmp_path_factory.mktemp("serve") / "model"
    create("popularity").fit(Interactions.from_frame(frame)).save(folder)
    return folder


def _rejected(args: list[str], message: str, code: int = 1) -> None:
    result = runner.invoke(app, ["serve", *args])
    assert result.exit_code == code, result.output
    assert "Traceback" not in result.output
    assert message in " ".join(result.stderr.split())


def test_model_dir_that_does_not_load(no_server: None, tmp_path: Path, model_dir: Path) -> None:
    _rejected(["--model-dir", str(tmp_path)], f"{tmp_path}: no saved model here")
    (tmp_path / "model.json").write_text("not json")
    _rejected(["--model-dir", str(tmp_path)], f"{tmp_path}: model.json is not readable JSON")


def test_items_that_do_not_load(no_server: None, tmp_path: Path, model_dir: Path) -> None:
    garbage = tmp_path / "items.parquet"
    garbage.write_bytes(b"\x00\x80garbage" * 50)
    _rejected(["--model-dir", str(model_dir), "--items", str(garbage)],
              f"{garbage}: not a readable Parquet items table")
    pd.DataFrame({"item_id": [1]}).to_parquet(garbage)
    _rejected(["--model-dir", str(model_dir), "--items", str(garbage)],
              "missing column(s) title of the items table")


def test_port_out_of_range_and_missing_availability(no_server: None, model_dir: Path) -> None:
    _rejected(["--port", "99999"], "Invalid value for '--port'", code=2)
    _rejected(["--port", "0"], "Invalid value for '--port'", code=2)
    _rejected(["--model-dir", str(model_dir), "--availability", "/nonexistent"],
              "--availability /nonexistent: no such file or folder")


def test_tmdb_availability_without_a_key(no_server: None, model_dir: Path,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """Without a key the platform filter would silently do nothing: refuse to start."""
    monkeypatch.delenv("TMDB_API_KEY", raising=False)
    _rejected(["--model-dir", str(model_dir), "--availability", "tmdb"],
              "--availability tmdb needs a TMDB API key in $TMDB_API_KEY")


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, IndexError):
        return False
    return state != "Z"


@pytest.mark.parametrize(("signum", "server_ignores"), [
    (signal.SIGTERM, False), (signal.SIGINT, False),
    (signal.SIGINT, True),  # as a background job's children do: SIGTERM follows
])
def test_signal_stops_the_whole_server_tree(signum: int, server_ignores: bool,
                                            model_dir: Path) -> None:
    """The stand-in server spawns a worker, as bentoml does; both must stop with the CLI."""
    server = textwrap.dedent(f"""
        import os, signal, subprocess, sys, time
        if {server_ignores!r}:
            signal.signal(signal.SIGINT, signal.SIG_IGN)
        worker = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
        print(os.getpid(), worker.pid, flush=True)
        time.sleep(60)
    """)
    wrapper = textwrap.dedent(f"""
        import sys
        import movierec.commands.serve as s
        from movierec.cli import app
        s.STOP_GRACE = 2.0
        s.bentoml_command = lambda *a: [sys.executable, "-c", {server!r}]
        app(["serve", "--port", "3999", "--model-dir", {str(model_dir)!r}])
    """)
    cli = subprocess.Popen([sys.executable, "-c", wrapper], cwd=ROOT, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True)
    server_pid = worker_pid = 0
    try:
        assert cli.stdout is not None
        server_pid, worker_pid = map(int, cli.stdout.readline().split())
        cli.send_signal(signum)
        code = cli.wait(timeout=20)
        deadline = time.monotonic() + 5
        while (_alive(server_pid) or _alive(worker_pid)) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not _alive(server_pid) and not _alive(worker_pid)
        assert code == 0, cli.stderr.read() if cli.stderr else ""
    finally:
        if cli.poll() is None:
            cli.kill()
        for pid in (server_pid, worker_pid):
            if pid and _alive(pid):
                os.kill(pid, signal.SIGKILL)


def test_no_champion_and_no_model_dir_stops_before_serving(
    no_server: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A source checkout with an empty registry gets one line saying what to do (not a
    server that restarts its worker forever, nor a model some other build left around)."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'empty.db'}")
    monkeypatch.delenv("MOVIEREC_MODEL_DIR", raising=False)
    result = runner.invoke(app, ["serve", "--port", "3999"])
    assert result.exit_code == 1, result.output
    assert "no model to serve" in " ".join(result.output.split())


def test_a_model_of_another_catalogue_stops_before_serving(no_server: None, tmp_path: Path,
                                                          model_dir: Path) -> None:
    """The model knows movies 1 and 2; an items table without 2 is another catalogue."""
    items = tmp_path / "items.parquet"
    pd.DataFrame({"item_id": [1, 3], "title": ["A", "C"], "year": [1990, 1991]}).to_parquet(items)
    _rejected(["--model-dir", str(model_dir), "--items", str(items)],
              "1 of its 2 movie ids are not in it (e.g. 2)")


def test_a_broken_catalogue_stops_before_serving(no_server: None, tmp_path: Path,
                                                 model_dir: Path) -> None:
    items = tmp_path / "items.parquet"
    pd.DataFrame({"item_id": [1, 2], "title": ["A", "B"], "year": [1990, 1991]}).to_parquet(items)
    broken = tmp_path / "offers.csv"
    broken.write_text("nothing,useful\n1,2\n")
    _rejected(["--model-dir", str(model_dir), "--items", str(items), "--availability",
               str(broken)], "offers.csv")
