"""``movierec serve``: start the BentoML service (a thin wrapper over ``bentoml serve``).

What can be checked before BentoML starts is checked here, once, with a one-line error:
a model folder or items table that does not load would otherwise make BentoML restart its
worker forever. ``bentoml serve`` runs in its own process group, to which SIGTERM and
SIGINT are forwarded (followed by SIGTERM, then SIGKILL, if it does not stop), and
``movierec serve`` waits for it, so stopping ``movierec serve`` never leaves an orphaned
server behind.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import FrameType
from typing import Annotated

import typer

from movierec.commands.common import console, fail, user_errors, working

# recsys, flows, bentos (and pandas, httpx) are imported inside the commands: at the top they load
# pandas/scipy/sklearn (~4 s instead of ~0.25 s for `movierec --help`) and Prefect before
# flows.runtime.configure() has set its home

SERVICE = "bentos.service:MovieRecommender"
#: Seconds a forwarded signal gets before the next, firmer one (SIGTERM, then SIGKILL after
#: as long again): a server started where SIGINT is ignored (a background job) would never
#: see Ctrl+C's.
STOP_GRACE = 10.0
#: Availability settings that are not paths.
NOT_PATHS = ("tmdb", "none", "off", "false")


def bentoml_command(target: str, host: str, port: int) -> list[str]:
    return [sys.executable, "-m", "bentoml", "serve", target, "--host", host, "--port", str(port)]


def check_inputs(model_dir: Path | None, items: Path | None, availability: str | None,
                 from_bento: bool = False, dataset: str | None = None) -> None:
    """Load the model, items and catalogue the service would load, and check that the
    model's movies are the items table's; fail with one line if anything is wrong (inside
    BentoML the error would restart the worker forever)."""
    from bentos.model_source import model_from_folder, resolve_items_path, resolve_model
    from recsys.availability.provider import AvailabilityError
    from recsys.data.interactions import read_items
    from recsys.serving.availability import load_availability
    from recsys.serving.config import load_serve_config
    from recsys.serving.model import CatalogueMismatch, check_catalogue

    with user_errors(RuntimeError, AvailabilityError, CatalogueMismatch):
        config, data = load_serve_config(dataset=dataset)
        info = None
        if model_dir is not None:
            info = model_from_folder(model_dir)
        elif not from_bento:  # the champion, as the service resolves it at start-up
            with working("loading the champion model"):
                info = resolve_model(config)
        if items is None and info is not None:
            items = resolve_items_path(config, data, info)
        table = read_items(items) if items is not None else None
        if info is not None and table is not None:
            check_catalogue(info, table)
        if availability is not None and availability.lower() not in NOT_PATHS \
                and not Path(availability).exists():
            raise FileNotFoundError(f"--availability {availability}: no such file or folder")
        if availability is not None and availability.lower() == "tmdb" \
                and not os.environ.get("TMDB_API_KEY"):
            raise ValueError("--availability tmdb needs a TMDB API key in $TMDB_API_KEY")
        if availability is not None and availability.lower() not in NOT_PATHS:
            with working("matching the streaming catalogue"):
                load_availability(availability, table, config)


def run_until_stopped(command: list[str], env: dict[str, str]) -> int:
    """Run ``command`` in its own process group, forwarding SIGTERM/SIGINT to the group, and
    return its exit code once it (and the signal's effect) is over.

    A group that outlives a forwarded signal by ``STOP_GRACE`` seconds gets SIGTERM, then
    SIGKILL. The handlers are in place before the server starts, so a signal that arrives
    while it is starting is forwarded as soon as it exists.
    """
    forwarded: list[int] = []
    started: list[subprocess.Popen[bytes]] = []

    def signal_group(signum: int) -> None:
        if started:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(started[0].pid, signum)

    def forward(signum: int, frame: FrameType | None) -> None:
        forwarded.append(signum)
        signal_group(signum)

    previous = {sig: signal.signal(sig, forward) for sig in (signal.SIGTERM, signal.SIGINT)}
    firmer = [signal.SIGTERM, signal.SIGKILL]
    try:
        started.append(subprocess.Popen(command, env=env, start_new_session=True))
        if forwarded:  # stopped while it was starting
            signal_group(forwarded[-1])
        deadline: float | None = None
        while True:
            try:  # a bounded wait: an endless one resumes after a signal and never escalates
                code = started[0].wait(timeout=0.5)
                break
            except subprocess.TimeoutExpired:
                if not forwarded:
                    continue
                if deadline is not None and time.monotonic() >= deadline:
                    signal_group(firmer.pop(0) if firmer else signal.SIGKILL)
                    deadline = None
                if deadline is None:
                    deadline = time.monotonic() + STOP_GRACE
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        signal_group(signal.SIGTERM)  # workers the server left behind
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
    dataset: Annotated[
        str | None,
        typer.Option(help="Serve this dataset's champion (default: data.dataset in "
                     "params.yaml; a built Bento serves the dataset it was built for)."),
    ] = None,
) -> None:
    """Start the recommendation service (POST /recommend, GET /model, ...) until Ctrl+C."""
    from recsys.serving.config import DATASET_ENV, load_serve_config

    env = dict(os.environ)
    check_inputs(
        model_dir or (Path(env["MOVIEREC_MODEL_DIR"]) if env.get("MOVIEREC_MODEL_DIR") else None),
        items or (Path(env["MOVIEREC_ITEMS"]) if env.get("MOVIEREC_ITEMS") else None),
        availability,
        from_bento=bento is not None,
        dataset=dataset,
    )
    for name, value in (("MOVIEREC_MODEL_DIR", model_dir), ("MOVIEREC_ITEMS", items),
                        ("MOVIEREC_AVAILABILITY", availability), (DATASET_ENV, dataset)):
        if value is not None:
            env[name] = str(value)
    if port is None:
        with user_errors():  # the typed serve section bounds the port (1..65535)
            port = load_serve_config(dataset=dataset)[0].port
    console.print(f"[green]serving[/] {bento or SERVICE} on http://{host}:{port} "
                  "(GET /model, POST /recommend; Ctrl+C stops)")
    code = run_until_stopped(bentoml_command(bento or SERVICE, host, port), env)
    if code not in (0, -2, 130):
        fail(f"bentoml serve exited with code {code}", code=code if code > 0 else 1)


def register(app: typer.Typer) -> None:
    """Add ``movierec serve`` to ``app``."""
    app.command("serve")(serve)
