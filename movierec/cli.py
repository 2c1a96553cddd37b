"""``movierec``: the one command line of the project.

Each command group lives in ``movierec/commands/<area>.py`` and registers itself here.
Command modules import nothing heavy at module level (TensorFlow, MLflow, Prefect,
Great Expectations, Evidently and BentoML are imported inside the commands), so
``movierec --help`` answers at once.
"""

from __future__ import annotations

import os

import typer

from movierec.commands import (
    data,
    models,
    monitor,
    pipeline,
    registry,
    report,
    serve,
    shilling,
    validate,
)

app = typer.Typer(
    name="movierec",
    help="Movie recommendations run like production ML, with streaming availability.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

for module in (data, validate, models, shilling, pipeline, registry, serve, monitor, report):
    module.register(app)


#: Environment defaults for every command and the processes it starts; a value already in
#: the environment wins. MLflow draws a progress bar per artifact download, and a pipeline
#: downloads each model several times (verification, champion rescoring, packaging): bars
#: that bury the run's own log lines.
QUIET_DEFAULTS = {"MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false"}


def main() -> None:  # pragma: no cover - console entry point
    for key, value in QUIET_DEFAULTS.items():
        os.environ.setdefault(key, value)
    app()
