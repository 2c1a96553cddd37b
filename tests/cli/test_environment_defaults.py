"""The CLI's environment defaults: set for every command, never over a user's own value."""

from __future__ import annotations

import os

import pytest

from movierec import cli

pytestmark = pytest.mark.unit

KEY = "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR"


def _seen(monkeypatch: pytest.MonkeyPatch) -> dict[str, str | None]:
    seen: dict[str, str | None] = {}
    monkeypatch.setattr(cli, "app", lambda: seen.update({KEY: os.environ.get(KEY)}))
    cli.main()
    return seen


def test_commands_run_without_mlflow_progress_bars(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(KEY, raising=False)
    assert _seen(monkeypatch) == {KEY: "false"}


def test_a_value_in_the_environment_wins(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(KEY, "true")
    assert _seen(monkeypatch) == {KEY: "true"}
