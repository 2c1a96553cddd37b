"""``movierec monitor`` refuses bad inputs with one readable line (no traceback, no retrain)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from movierec.cli import app

pytestmark = pytest.mark.unit


@pytest.fixture()
def batch(tmp_path: Path) -> Path:
    path = tmp_path / "batch.csv"
    pd.DataFrame({"user_id": [1, 2], "item_id": [10, 20], "rating": [4.0, 3.0],
                  "timestamp": [880_000_000, 880_000_100]}).to_csv(path, index=False)
    return path


def _monitor(batch: Path, *extra: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, ["monitor", "--current", str(batch), "--reference",
                                      str(batch), "--decide-only", "--skip-validation", *extra])
    return result.exit_code, " ".join(result.output.split())


@pytest.mark.parametrize(("case", "expected"), [
    ("params_not_yaml", "not valid YAML"),
    ("params_out_of_range", "params.yaml: monitor.drift_share_threshold: Input should be less than or equal to 1"),
    ("params_unknown_key", "params.yaml: monitor.drift_share_treshold: unknown key"),
    ("log_not_json", "log.jsonl, line 2: not a JSON object"),
    ("log_missing", "--inference-log"),
    ("reference_wrong_columns", "missing column(s) rating"),
])
def test_bad_inputs_are_one_line_errors(batch: Path, tmp_path: Path, case: str,
                                        expected: str) -> None:
    params, log = tmp_path / "params.yaml", tmp_path / "log.jsonl"
    args: list[str] = []
    if case.startswith("params"):
        params.write_text({"params_not_yaml": "monitor: [1,2\n",
                           "params_out_of_range": "monitor:\n  drift_share_threshold: 5\n",
                           "params_unknown_key": "monitor:\n  drift_share_treshold: 0.2\n"}[case])
        args = ["--params", str(params)]
    elif case == "log_not_json":
        log.write_text('{"endpoint": "recommend", "items": [1]}\nnot json\n')
        args = ["--inference-log", str(log)]
    elif case == "log_missing":
        args = ["--inference-log", str(tmp_path / "missing.jsonl")]
    else:
        wrong = tmp_path / "wrong.csv"
        pd.read_csv(batch).rename(columns={"rating": "score"}).to_csv(wrong, index=False)
        args = ["--reference", str(wrong)]
    code, output = _monitor(batch, *args)
    assert code == 1, output
    assert "Traceback" not in output
    assert expected in output, output


def test_retraining_loads_prefect_with_the_projects_settings(tmp_path: Path) -> None:
    """Prefect reads its settings when imported, so the retrain step must configure the
    environment first: else its state lands in ~/.prefect and the temporary server gets
    Prefect's 20 s start-up timeout instead of ours (it timed out on a loaded CI machine)."""
    import os
    import subprocess
    import sys

    code = (
        "from flows.launch import configured_pipeline\n"
        "configured_pipeline()\n"
        "from prefect.settings import get_current_settings\n"
        "s = get_current_settings()\n"
        "print(s.home, s.server.ephemeral.startup_timeout_seconds)\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    env["PYTHONPATH"] = str(Path(__file__).parents[2])
    result = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env,
                            capture_output=True, text=True, timeout=120, check=True)
    home, timeout = result.stdout.split()[-2:]
    assert Path(home) == (tmp_path / ".movierec" / "prefect").resolve()
    from flows.runtime import EPHEMERAL_DEFAULTS

    assert float(timeout) == float(EPHEMERAL_DEFAULTS["PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS"])


def test_batch_with_all_text_ratings_is_rejected_not_a_traceback(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    batch = tmp_path / "text.csv"
    pd.DataFrame({"user_id": [1, 2], "item_id": [10, 20], "rating": ["good", "bad"],
                  "timestamp": [880_000_000, 880_000_100]}).to_csv(batch, index=False)
    reference = tmp_path / "reference.csv"
    pd.DataFrame({"user_id": [1, 2], "item_id": [10, 20], "rating": [4.0, 3.0],
                  "timestamp": [880_000_000, 880_000_100]}).to_csv(reference, index=False)
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(app, ["monitor", "--current", str(batch), "--reference",
                                      str(reference), "--decide-only"])
    output = " ".join(result.output.split())
    assert result.exit_code == 1, output
    assert result.exception is None or isinstance(result.exception, SystemExit), output
    assert "rejected by validation" in output
    assert "2 of 2 rows fail" in output
