"""Fixtures for the page tests: the serving tests' real ``bentoml serve``, a headless Chromium."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.pages.browser import chromium, chromium_missing
from tests.serving.conftest import client, served_model_dir, server  # noqa: F401 - fixtures reused


@pytest.fixture(scope="session")
def browser_ok() -> None:
    """Fail (not skip) without Chromium: CI installs it, and a skipped browser test proves nothing."""
    missing = chromium_missing()
    if missing:
        pytest.fail(missing)


@pytest.fixture()
def browser(browser_ok: None) -> Iterator[Any]:
    with chromium() as driver:
        yield driver
