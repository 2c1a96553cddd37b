"""Fail closed: a stage whose library module is missing is an error, never "skipped"."""

from __future__ import annotations

import subprocess
import sys

import pytest

pytestmark = pytest.mark.unit


@pytest.mark.parametrize("module", ["recsys.validation.validate", "recsys.shilling.filter",
                                    "bentos.build", "recsys.evaluation.evaluate"])
def test_the_pipeline_does_not_load_without_a_stage_module(module: str) -> None:
    code = (f"import sys; sys.modules[{module!r}] = None\n"
            "import flows.pipeline\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=300, check=False)
    assert done.returncode != 0
    assert "ModuleNotFoundError" in done.stderr or "ImportError" in done.stderr

