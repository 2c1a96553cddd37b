"""``movierec serve``: start the BentoML service (a thin wrapper over ``bentoml serve``)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Annotated

import typer

from movierec.commands.common import console, fail

SERVICE = "bentos.service:MovieRecommender"


def serve(
    port: Annotated[int | None, typer.Option(help="Port (default: serve.port in params.yaml).")] = None,
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
    for name, value, must_exist in (
        ("MOVIEREC_MODEL_DIR", model_dir, True),
        ("MOVIEREC_ITEMS", items, True),
        ("MOVIEREC_AVAILABILITY", availability, False),
    ):
        if value is None:
            continue
        if must_exist and not Path(value).exists():
            fail(f"{value}: no such file or folder")
        env[name] = str(value)
    if port is None:
        port = int(section("serve").get("port", 3000))
    command = [sys.executable, "-m", "bentoml", "serve", bento or SERVICE,
               "--host", host, "--port", str(port)]
    console.print(f"[green]serving[/] {bento or SERVICE} on http://{host}:{port} "
                  "(GET /model, POST /recommend; Ctrl+C stops)")
    try:
        code = subprocess.call(command, env=env)
    except KeyboardInterrupt:
        code = 0
    if code not in (0, -2, 130):
        fail(f"bentoml serve exited with code {code}", code=code)


def register(app: typer.Typer) -> None:
    """Add ``movierec serve`` to ``app``."""
    app.command("serve")(serve)
