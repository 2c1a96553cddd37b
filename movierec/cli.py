"""``movierec``: the one command line of the project.

Each command group lives in ``movierec/commands/<area>.py`` and registers itself here.
Command modules import nothing heavy at module level (TensorFlow, MLflow, Prefect,
Great Expectations, Evidently and BentoML are imported inside the commands), so
``movierec --help`` answers at once.
"""

from __future__ import annotations

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


def main() -> None:  # pragma: no cover - console entry point
    app()
