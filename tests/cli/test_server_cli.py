"""``movierec server``: the printed commands carry the chosen dataset and tracking store."""

from __future__ import annotations

import subprocess
import sys

import pytest
from typer.testing import CliRunner

from movierec.cli import app

pytestmark = pytest.mark.unit


def test_printed_deployment_command_keeps_the_options() -> None:
    result = CliRunner().invoke(app, ["server", "-d", "ml-latest-small",
                                      "--tracking-uri", "http://mlflow.local:5000"])
    assert result.exit_code == 0, result.output
    serve_line = next(line for line in result.output.splitlines() if "flows.serve" in line)
    assert serve_line.endswith(
        "python -m flows.serve --dataset ml-latest-small --tracking-uri http://mlflow.local:5000"
    )


def test_flows_serve_accepts_the_printed_options() -> None:
    done = subprocess.run([sys.executable, "-m", "flows.serve", "--help"],
                          capture_output=True, text=True, timeout=120, check=True)
    assert "--dataset" in done.stdout and "--tracking-uri" in done.stdout
