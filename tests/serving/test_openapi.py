"""``/docs.json`` says what the service does: checked by hand and by schemathesis."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from .conftest import RunningServer

pytestmark = pytest.mark.integration


def test_document_has_nullable_fields_errors_and_limits(client: httpx.Client) -> None:
    doc = client.get("/docs.json").json()
    schemas = doc["components"]["schemas"]

    def nullable(model: str, field: str) -> bool:
        prop = schemas[model]["properties"][field]
        return any(o.get("type") == "null" for o in prop.get("anyOf", ()))

    for field in ("note", "user_id", "platforms", "attribution", "availability_hint"):
        assert nullable("Recommendations", field), field
    detail = schemas["ErrorBody"]["properties"]["detail"]
    assert {o.get("type") for o in detail["anyOf"]} == {"array", "null"}
    for path in ("/recommend", "/recommend_new_user", "/similar_items", "/predict_rating"):
        responses = doc["paths"][path]["post"]["responses"]
        assert {"200", "400", "413", "415"} <= set(responses), path
    # an error body really has that shape
    refused = client.post("/recommend", json={"user_id": 1, "k": 0}).json()
    assert isinstance(refused["error"], str) and isinstance(refused["detail"], list)
    too_big = client.post("/recommend", content=b" " * 20_000,
                          headers={"content-type": "application/json"}).json()
    assert too_big["detail"] is None


def test_schemathesis_checks_all(server: RunningServer, tmp_path: Path) -> None:
    """Generated valid and invalid requests against the document: bounded (about 30 s)."""
    command = [str(Path(sys.executable).with_name("schemathesis")), "run",
               f"{server.url}/docs.json", "--checks", "all", "--max-examples", "40",
               "--seed", "1", "--generation-database", "none", "--request-timeout", "30"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=600, cwd=tmp_path)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    assert "No issues found" in done.stdout
