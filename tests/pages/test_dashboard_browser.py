"""The dashboard built by ``movierec report`` from a real ``movierec run``, in headless Chromium."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from tests.pages.browser import screenshot
from tests.serving.conftest import RunningServer

pytestmark = [pytest.mark.integration, pytest.mark.browser]

ROOT = Path(__file__).resolve().parents[2]
MOVIEREC = [str(Path(sys.executable).with_name("movierec"))]
RUN_TIMEOUT = 900


def movierec(args: list[str], cwd: Path, timeout: float = RUN_TIMEOUT) -> str:
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "BENTOML_DO_NOT_TRACK": "true"}
    env.pop("MLFLOW_TRACKING_URI", None)
    done = subprocess.run([*MOVIEREC, *args], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=timeout, check=False)
    assert done.returncode == 0, f"movierec {' '.join(args)}:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done.stdout + done.stderr


@pytest.fixture(scope="session")
def pipeline_project(tmp_path_factory: pytest.TempPathFactory, mirror: Path) -> Path:
    """A project folder after one real ``movierec run`` (popularity only, no Bento)."""
    project = tmp_path_factory.mktemp("dashboard-project")
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    params["train"]["models"] = ["popularity"]
    (project / "params.yaml").write_text(yaml.safe_dump(params))
    movierec(["run", "--models", "popularity", "--skip-package", "--source", str(mirror)], project)
    return project


def test_dashboard_lists_the_champion_and_the_latest_drift_decision(
        pipeline_project: Path, server: RunningServer, browser: Any) -> None:
    from selenium.webdriver.common.by import By

    from recsys.tracking.registry import list_versions

    for user in (196, 987654321):  # a known and an unknown user: traffic in the log
        httpx.post(server.url + "/recommend", json={"user_id": user, "k": 5}, timeout=30)
    out = movierec(["report", "--inference-log", str(server.log_path)], pipeline_project, 300)
    page = pipeline_project / "reports" / "index.html"
    assert str(page) in out

    versions = list_versions(tracking_uri=f"sqlite:///{pipeline_project / 'mlflow.db'}")
    champion = next(v for v in versions if "champion" in v["aliases"])
    decisions = (pipeline_project / "reports" / "drift" / "decisions.jsonl").read_text().splitlines()
    latest = json.loads(decisions[-1])
    log_lines = [line for line in server.log_path.read_text().splitlines() if line.strip()]

    browser.get(page.as_uri())
    tile = browser.find_element(By.ID, "tile-champion").text
    assert f"v{champion['version']} {champion['variant']}" in tile
    registry = browser.find_element(By.ID, "registry").text
    assert f"v{champion['version']}" in registry and "champion" in registry
    assert champion["reason"] in registry
    drift_rows = browser.find_elements(By.CSS_SELECTOR, "#drift tbody tr")
    assert len(drift_rows) == len(decisions)
    first = drift_rows[0].text  # newest first
    expected = "retrain" if latest["retrain"] else "drift, no retrain" if latest["drift_detected"] else "no drift"
    assert expected in first and latest["reason"] in first
    link = drift_rows[0].find_element(By.TAG_NAME, "a").get_attribute("href")
    assert link.endswith(Path(latest["report"]).name) and Path(link.removeprefix("file://")).is_file()
    runs = browser.find_element(By.ID, "runs")
    assert "popularity" in runs.text and runs.find_elements(By.CSS_SELECTOR, "svg.chart")
    quality = browser.find_element(By.ID, "quality").text
    assert "passed" in quality and "column `rating` is present" in quality
    shilling = browser.find_element(By.ID, "shilling").text
    assert "943 users, 100000 ratings" in shilling
    serving = browser.find_element(By.ID, "serving").text
    assert f"requests {len(log_lines)}" in serving
    resources = browser.execute_script(
        "return performance.getEntriesByType('resource').map(e => e.name)")
    assert all(r.startswith("file:") for r in resources), resources
    screenshot(browser, "dashboard")
