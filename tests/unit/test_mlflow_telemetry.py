"""MLflow's usage telemetry is off in mlstack's processes unless the user turns it on.

MLflow starts a telemetry thread at import; when it cannot fetch its configuration it deletes
``_MLFLOW_TELEMETRY_SESSION_ID`` from the environment, and a task's HTTP call reading the
environment at that moment (``requests`` looks up proxies there) fails with a ``KeyError``
(a training task's ``log-batch`` in CI, 2026-12-04). Each check runs in a fresh interpreter:
MLflow decides at import.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

# MLflow turns its telemetry off by itself under these (CI, pytest): without them the control
# below shows it on, so the check after it shows what mlstack does
CI_VARS = {
    "PYTEST_CURRENT_TEST",
    "GITHUB_ACTIONS",
    "CI",
    "CIRCLECI",
    "GITLAB_CI",
    "JENKINS_URL",
    "TRAVIS",
    "TF_BUILD",
    "BITBUCKET_BUILD_NUMBER",
    "CODEBUILD_BUILD_ARN",
    "BUILDKITE",
    "TEAMCITY_VERSION",
    "CLOUD_RUN_EXECUTION",
    "RUNBOT_HOST_URL",
    "RUNBOT_BUILD_NAME",
    "RUNBOT_WORKER_ID",
    "MLFLOW_DISABLE_TELEMETRY",
    "DO_NOT_TRACK",
}

REPORT = """
import os, threading
import mlflow
from mlflow.telemetry.client import get_telemetry_client
print(get_telemetry_client() is not None,
      any(t.name == "GetTelemetryConfig" for t in threading.enumerate()),
      os.environ.get("MLFLOW_DISABLE_TELEMETRY"))
"""


def run(code: str, **env: str) -> list[str]:
    """``code``'s printed words, run by this interpreter without CI's variables."""
    clean = {k: v for k, v in os.environ.items() if k not in CI_VARS} | env
    out = subprocess.run(
        [sys.executable, "-c", code], env=clean, capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr[-2000:]
    return out.stdout.split()


def test_mlflow_alone_would_start_its_telemetry_here() -> None:
    """The control: without mlstack, this environment has MLflow's telemetry client."""
    assert run(REPORT)[0] == "True"


def test_importing_mlstack_first_turns_it_off() -> None:
    assert run("import mlstack" + REPORT) == ["False", "False", "true"]


def test_a_users_own_setting_wins() -> None:
    assert run("import mlstack" + REPORT, MLFLOW_DISABLE_TELEMETRY="false")[2] == "false"


def test_the_image_turns_it_off_for_processes_without_mlstack() -> None:
    """The MLflow server imports MLflow, not mlstack: the runtime image's environment says it."""
    runtime = (ROOT / "infra" / "Dockerfile").read_text().split("\nFROM ")[-1]
    assert "MLFLOW_DISABLE_TELEMETRY=true" in runtime
