"""Team mode: the pipeline against a real ``mlflow server`` backed by a real PostgreSQL.

The setup the README documents: PostgreSQL asks for a password over TCP, which the MLflow
server reads from a ``.pgpass`` file (never from its command line); the server runs MLflow's
basic-auth app, and clients authenticate with ``MLFLOW_TRACKING_USERNAME`` and
``MLFLOW_TRACKING_PASSWORD`` from the environment.
"""

from __future__ import annotations

import os
import pwd
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.integration

INITDB = shutil.which("initdb") or "/usr/local/bin/initdb"
PG_CTL = shutil.which("pg_ctl") or "/usr/local/bin/pg_ctl"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _as_postgres(args: list[str]) -> list[str]:
    """PostgreSQL refuses to run as root: drop to the ``postgres`` user when we are root."""
    if os.geteuid() != 0:
        return args
    runuser = shutil.which("runuser")
    return [runuser, "-u", "postgres", "--", *args] if runuser else ["su", "postgres", "-c", " ".join(args)]


def _wait_http(url: str, timeout: float, proc: subprocess.Popen[bytes], log: Path) -> None:
    import httpx

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            tail = log.read_text(errors="replace")[-3000:] if log.is_file() else ""
            raise RuntimeError(f"mlflow server exited with {proc.returncode}:\n{tail}")
        try:
            if httpx.get(url, timeout=2.0).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(1.0)
    raise RuntimeError(f"{url} did not answer within {timeout:.0f}s")


@dataclass(frozen=True)
class TeamServer:
    uri: str
    username: str
    password: str
    db_password: str
    pid: int


@pytest.fixture(scope="session")
def team_server() -> Iterator[TeamServer]:
    """A PostgreSQL server (password auth over TCP), a database in it, and an authenticated
    ``mlflow server`` on top; both stopped after."""
    if not Path(INITDB).is_file():
        pytest.skip("initdb not installed: no PostgreSQL for the team-mode test")
    import psycopg2

    base = Path(tempfile.mkdtemp(prefix="movierec-pg-"))
    data = base / "data"
    db_password, admin_password = secrets.token_urlsafe(18), secrets.token_urlsafe(18)
    pwfile = base / "pwfile"
    pwfile.write_text(db_password + "\n")
    if os.geteuid() == 0:
        entry = pwd.getpwnam("postgres")
        os.chown(base, entry.pw_uid, entry.pw_gid)
        os.chown(pwfile, entry.pw_uid, entry.pw_gid)
    pg_port, mlflow_port = _free_port(), _free_port()
    pgpass = base / ".pgpass"
    pgpass.write_text(f"127.0.0.1:{pg_port}:*:postgres:{db_password}\n")
    pgpass.chmod(0o600)
    auth_ini = base / "basic_auth.ini"
    auth_ini.write_text(
        "[mlflow]\ndefault_permission = READ\n"
        f"database_uri = sqlite:///{base / 'basic_auth.db'}\n"
        f"admin_username = movierec-admin\nadmin_password = {admin_password}\n"
        "authorization_function = mlflow.server.auth:authenticate_request_basic_auth\n")
    auth_ini.chmod(0o600)
    mlflow_proc: subprocess.Popen[bytes] | None = None
    started = False
    try:
        subprocess.run(_as_postgres([INITDB, "-D", str(data), "-U", "postgres",
                                     "--auth-local=trust", "--auth-host=scram-sha-256",
                                     f"--pwfile={pwfile}", "-E", "UTF8"]),
                       check=True, capture_output=True, timeout=180)
        pwfile.unlink()
        subprocess.run(_as_postgres([
            PG_CTL, "-D", str(data), "-l", str(base / "postgres.log"), "-w", "-t", "120",
            "-o", f"-c listen_addresses=127.0.0.1 -p {pg_port} -k {base}", "start",
        ]), check=True, capture_output=True, timeout=180)
        started = True
        with pytest.raises(psycopg2.OperationalError, match="password"):
            psycopg2.connect(host="127.0.0.1", port=pg_port, user="postgres", dbname="postgres",
                             passfile=os.devnull)
        conn = psycopg2.connect(host="127.0.0.1", port=pg_port, user="postgres",
                                dbname="postgres", passfile=str(pgpass))
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute("CREATE DATABASE mlflow")
        conn.close()
        artifacts = Path(tempfile.mkdtemp(prefix="movierec-mlflow-artifacts-"))
        mlflow_bin = str(Path(sys.executable).with_name("mlflow"))
        env = {**os.environ, "PGPASSFILE": str(pgpass), "MLFLOW_AUTH_CONFIG_PATH": str(auth_ini),
               "MLFLOW_FLASK_SERVER_SECRET_KEY": secrets.token_hex(16)}
        mlflow_proc = subprocess.Popen(
            [mlflow_bin, "server", "--app-name", "basic-auth",
             "--backend-store-uri", f"postgresql+psycopg2://postgres@127.0.0.1:{pg_port}/mlflow",
             "--default-artifact-root", str(artifacts),
             "--host", "127.0.0.1", "--port", str(mlflow_port), "--workers", "1"],
            stdout=subprocess.DEVNULL, stderr=open(base / "mlflow.log", "wb"),  # noqa: SIM115
            start_new_session=True, env=env,
        )
        uri = f"http://127.0.0.1:{mlflow_port}"
        _wait_http(f"{uri}/health", 300, mlflow_proc, base / "mlflow.log")
        yield TeamServer(uri, "movierec-admin", admin_password, db_password, mlflow_proc.pid)
    finally:
        if mlflow_proc is not None and mlflow_proc.poll() is None:
            os.killpg(mlflow_proc.pid, signal.SIGTERM)
            try:
                mlflow_proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(mlflow_proc.pid, signal.SIGKILL)
                mlflow_proc.wait()
        if started:
            subprocess.run(_as_postgres([PG_CTL, "-D", str(data), "-m", "fast", "-w", "stop"]),
                           capture_output=True, timeout=120)
        shutil.rmtree(base, ignore_errors=True)


def test_team_server_needs_credentials_and_hides_the_database_password(
    team_server: TeamServer,
) -> None:
    import httpx

    search = f"{team_server.uri}/api/2.0/mlflow/experiments/search"
    assert httpx.post(search, json={"max_results": 1}, timeout=30).status_code == 401
    wrong = httpx.post(search, json={"max_results": 1}, timeout=30,
                       auth=(team_server.username, "not-the-password"))
    assert wrong.status_code == 401
    right = httpx.post(search, json={"max_results": 1}, timeout=30,
                       auth=(team_server.username, team_server.password))
    assert right.status_code == 200, right.text
    # the database password is on no command line (ps shows command lines to every user)
    for pid in [team_server.pid, *_children(team_server.pid)]:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
        assert team_server.db_password not in cmdline
        assert team_server.password not in cmdline


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[-1].split()[1]) == pid:
                found.append(int(entry.name))
    return found


def test_pipeline_against_postgres_backed_mlflow_server(
    first_run: dict[str, Any], project: Path, mirror: Path, team_server: TeamServer,
    helpers: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mlflow.tracking import MlflowClient

    from recsys.tracking.registry import list_versions, load_champion, registered_name

    monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", team_server.username)
    monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", team_server.password)
    team_tracking_uri = team_server.uri
    name = registered_name("movie-recommender", "ml-100k")

    state = helpers.run_pipeline(project, mirror, tracking_uri=team_tracking_uri)
    assert state.is_completed(), state.message
    summary = state.result()
    assert summary["tracking_uri"] == team_tracking_uri
    assert summary["decision"]["promoted"] and summary["decision"]["version"] == "1"

    versions = list_versions(name, tracking_uri=team_tracking_uri)
    assert [(v["version"], v["aliases"], v["variant"]) for v in versions] == [
        ("1", ["challenger", "champion"], "ease")]
    champion = load_champion(tracking_uri=team_tracking_uri, dataset="ml-100k")
    assert champion.variant == "ease" and champion.run_id
    client = MlflowClient(team_tracking_uri, team_tracking_uri)
    parent = client.get_run(summary["mlflow_run_id"])
    children = client.search_runs(
        [parent.info.experiment_id],
        filter_string=f"tags.mlflow.parentRunId = '{parent.info.run_id}'")
    assert sorted(r.data.tags["variant"] for r in children) == sorted(helpers.MODELS)
    assert all("ndcg_at_10" in r.data.metrics for r in children)
