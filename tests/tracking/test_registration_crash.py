"""A registration killed between "Created version" and its decision is completed by a rerun.

The crash is real: a subprocess registers with MLflow's alias call replaced by
``os._exit(137)`` (what kill -9 right after "Creating a new version" leaves behind).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pandas as pd
import pytest

from tests.tracking.test_registry import _aliases, _log_and_register

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]

CRASHING = textwrap.dedent("""
    import json, os, sys
    from mlflow.tracking import MlflowClient
    from recsys.tracking.registry import register_best

    def crash(*args, **kwargs):
        os._exit(137)  # dies like kill -9: no cleanup, no finally

    MlflowClient.set_registered_model_alias = crash
    kwargs = json.loads(sys.argv[1])
    register_best(kwargs.pop("model_uri"), **kwargs)
    print("not reached")
""")


def test_rerun_completes_an_interrupted_registration(fitted: dict[str, dict], tracking_uri: str,
                                                     model_name: str, tmp_path: Path) -> None:
    from mlflow.tracking import MlflowClient

    from recsys.tracking.mlflow_runs import VariantResult, log_pipeline
    from recsys.tracking.registry import list_versions, register_best

    _log_and_register("popularity", fitted, tracking_uri, model_name)   # v1, champion
    entry = fitted["ease"]
    tracked = log_pipeline(
        [VariantResult("ease", {}, entry["metrics"], str(entry["dir"]))], dataset="ml-100k",
        data_digest="d1", commit=None, pipeline_params={}, example_users=[1, 2],
        leaderboard=pd.DataFrame([{"variant": "ease"}]), tracking_uri=tracking_uri,
    ).variants["ease"]
    kwargs = dict(run_id=tracked.run_id, variant="ease", metrics=entry["metrics"],
                  evaluation_key="eval-1", data_hash="d1", model_dir=str(entry["dir"]),
                  dataset="ml-100k", model_name=model_name, tracking_uri=tracking_uri)
    crashed = subprocess.run(
        [sys.executable, "-c", CRASHING, json.dumps({"model_uri": tracked.model_uri, **kwargs})],
        # a fresh process elsewhere knows the store only from the arguments, as a rerun would
        cwd=tmp_path, env={**{k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")},
                             "PYTHONPATH": str(ROOT)}, capture_output=True,
        text=True, timeout=300,
    )
    assert crashed.returncode == 137, crashed.stderr[-2000:]
    assert "not reached" not in crashed.stdout
    stranded = MlflowClient(tracking_uri, tracking_uri).get_model_version(model_name, "2")
    assert stranded.tags.get("registration.state") == "pending"
    assert "promotion.decision" not in stranded.tags

    decision = register_best(tracked.model_uri, **kwargs)
    assert decision.version == "2" and not decision.reused
    assert decision.promoted and decision.champion_version == "1"
    assert _aliases(tracking_uri, model_name) == {"champion": "2", "challenger": "2"}
    rows = {r["version"]: r for r in list_versions(model_name, tracking_uri=tracking_uri)}
    assert rows["2"]["decision"] == "promoted"
    again = register_best(tracked.model_uri, **kwargs)
    assert again.reused and "decided then: promoted" in again.reason
    assert len(rows) == 2
