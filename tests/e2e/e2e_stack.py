"""The e2e stack: a throwaway compose stack under its own project name.

Fresh secrets in a temporary env file, ports beside the defaults so a `make up` stack can
keep running, the project image built (cached layers make this quick when warm), every
service healthy before the test starts, and ``down --volumes`` afterwards whatever happened.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "infra"))
import stack as stackctl  # noqa: E402  (infra/stack.py, the helpers of `make up`)
from airflow_api import AirflowAPI  # noqa: E402  (tests/e2e/)

PROJECT = os.environ.get("MLSTACK_E2E_PROJECT", "mlstack-e2e")
#: host ports of the e2e stack: beside the defaults, so a `make up` stack can stay up
PORTS = {
    "AIRFLOW_PORT": os.environ.get("MLSTACK_E2E_AIRFLOW_PORT", "18080"),
    "MLFLOW_PORT": os.environ.get("MLSTACK_E2E_MLFLOW_PORT", "15000"),
    "MINIO_PORT": os.environ.get("MLSTACK_E2E_MINIO_PORT", "19000"),
    "MINIO_CONSOLE_PORT": os.environ.get("MLSTACK_E2E_MINIO_CONSOLE_PORT", "19001"),
    "GATEWAY_PORT": os.environ.get("MLSTACK_E2E_GATEWAY_PORT", "18000"),
}
PROBE = Path(__file__).with_name("probe.py")


@dataclass
class Stack:
    compose: stackctl.Compose
    api: AirflowAPI

    def probe(self, *args: str) -> dict:
        """Run tests/e2e/probe.py inside the stack; its JSON answer."""
        out = self.compose.run(
            "exec", "-T", "airflow-scheduler", "python", "-", *args,
            capture=True, input=PROBE.read_text(),
        )  # fmt: skip
        return json.loads(out.strip().splitlines()[-1])

    def dump_logs(self, services: list[str] | None = None, tail: int = 80) -> None:
        """Print the logs of the given services (default: unready ones and the scheduler)."""
        names = services or sorted({*stackctl.unready_services(self.compose), "airflow-scheduler"})
        stackctl.print_logs(self.compose, names, tail)


@contextmanager
def running_stack(workdir: Path) -> Iterator[Stack]:
    """Build, start and wait for the stack; always tear it down (volumes included)."""
    env_file = workdir / "stack.env"
    compose = stackctl.Compose(PROJECT, env_file, extra_env=PORTS)
    stackctl.say(f"e2e: removing what an earlier run of {PROJECT} may have left")
    compose.run("down", "--volumes", "--remove-orphans", capture=True, check=False)
    stackctl.ensure_env(env_file, project=PROJECT)
    stackctl.say("e2e: building the project image")
    compose.run("build")
    try:
        stackctl.say(f"e2e: starting the stack (compose project {PROJECT})")
        compose.run("up", "--detach", "--remove-orphans")
        elapsed = stackctl.wait_healthy(compose, timeout=600)
        stackctl.say(f"e2e: all services ready after {elapsed:.0f}s")
        password = stackctl.read_env(env_file)["AIRFLOW_ADMIN_PASSWORD"]
        api = AirflowAPI(f"http://127.0.0.1:{PORTS['AIRFLOW_PORT']}", "admin", password)
        yield Stack(compose, api)
    finally:
        stackctl.say(f"e2e: tearing down {PROJECT} (down --volumes)")
        compose.run("down", "--volumes", "--remove-orphans", check=False)
