"""``movierec serve``: start the BentoML service (a thin wrapper over ``bentoml serve``).

What can be checked before BentoML starts is checked here, once, with a one-line error:
a model folder or items table that does not load would otherwise make BentoML restart its
worker forever. ``bentoml serve`` runs in its own process group, to which SIGTERM and
SIGINT are forwarded, and ``movierec serve`` waits for it, so stopping ``movierec serve``
never leaves an orphaned server behind.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from pathlib import Path
from types import FrameType
from typing import Annotated

import typer

from movierec.commands.common import console, fail, user_errors

SERVICE = "bentos.service:MovieRecommender"
#: How long the server gets to stop after a forwarded signal before it is killed.
STOP_TIMEOUT = 30.0
#: Availability settings that are not paths.
NOT_PATHS = ("tmdb", "none", "off", "false")


def bentoml_command(target: str, host: str, port: int) -> list[str]:
    return [sys.executable, "-m", "bentoml", "serve", target, "--host", host, "--port", str(port)]


def check_inputs(model_dir: Path | None, items: Path | None, availability: str | None,
                 from_bento: bool = False) -> None:
    """Load the model and items the service would load; fail with one line if they do not."""
    from recsys.data.interactions import read_items
    from recsys.models import load_model

    with user_errors(RuntimeError):
        if model_dir is not None:
            load_model(model_dir)
        elif not from_bento:  # the champion, as the service resolves it at start-up
            from bentos.service import load_serve_config, resolve_model

            with console.status("loading the champion model"):
                resolve_model(load_serve_config()[0])
        if items is not None:
            read_items(items)
        if availability is not None and availability.lower() not in NOT_PATHS \
                and not Path(availability).exists():
            raise FileNotFoundError(f"--availability {availability}: no such file or folder")
        if availability is not None and availability.lower() == "tmdb" \
                and not os.environ.get("TMDB_API_KEY"):
            raise ValueError("--availability tmdb needs a TMDB API key in $TMDB_API_KEY")


def run_until_stopped(command: list[str], env: dict[str, str]) -> int:
    """Run ``command`` in its own process group, forwarding SIGTERM/SIGINT to the group, and
    return its exit code once it (and the signal's effect) is over."""
    child = subprocess.Popen(command, env=env, start_new_session=True)
    forwarded: list[int] = []

    def forward(signum: int, frame: FrameType | None) -> None:
        forwarded.append(signum)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(child.pid, signum)

    previous = {sig: signal.signal(sig, forward) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        while True:
            try:
                code = child.wait(timeout=STOP_TIMEOUT if forwarded else None)
                break
            except subprocess.TimeoutExpired:
                os.killpg(child.pid, signal.SIGKILL)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(child.pid, signal.SIGTERM)  # workers the server left behind
    return 0 if forwarded and code in (0, -signal.SIGTERM, -signal.SIGINT, 130, 143) else code


def serve(
    port: Annotated[int | None, typer.Option(min=1, max=65535, help="Port, 1-65535 "
                                             "(default: serve.port in params.yaml).")] = None,
    host: Annotated[str, typer.Option(help="Interface to bind.")] = "127.0.0.1",
    model_dir: Annotated[
        Path | None,
        typer.Option(help="Serve this saved model folder instead of the MLflow champion."),
    ] = None,
    items: Annotated[Path | None, typer.Option(help="Items table (titles, years).")] = None,
    availability: Annotated[
        str | None,
        typer.Option(help="Catalogue CSV or folder, or 'tmdb' (needs TMDB_API_KEY)."),
    ] = None,
    bento: Annotated[
        str | None, typer.Option(help="Serve a built Bento (e.g. movierec:latest) instead.")
    ] = None,
) -> None:
    """Start the recommendation service (POST /recommend, GET /model, ...) until Ctrl+C."""
    from recsys.params import section

    env = dict(os.environ)
    check_inputs(
        model_dir or (Path(env["MOVIEREC_MODEL_DIR"]) if env.get("MOVIEREC_MODEL_DIR") else None),
        items or (Path(env["MOVIEREC_ITEMS"]) if env.get("MOVIEREC_ITEMS") else None),
        availability,
        from_bento=bento is not None,
    )
    for name, value in (("MOVIEREC_MODEL_DIR", model_dir), ("MOVIEREC_ITEMS", items),
                        ("MOVIEREC_AVAILABILITY", availability)):
        if value is not None:
            env[name] = str(value)
    if port is None:
        with user_errors():
            port = int(section("serve").get("port", 3000))
        if not 1 <= port <= 65535:
            fail(f"serve.port in params.yaml must be in 1..65535, got {port}")
    console.print(f"[green]serving[/] {bento or SERVICE} on http://{host}:{port} "
                  "(GET /model, POST /recommend; Ctrl+C stops)")
    code = run_until_stopped(bentoml_command(bento or SERVICE, host, port), env)
    if code not in (0, -2, 130):
        fail(f"bentoml serve exited with code {code}", code=code if code > 0 else 1)


def register(app: typer.Typer) -> None:
    """Add ``movierec serve`` to ``app``."""
    app.command("serve")(serve)
