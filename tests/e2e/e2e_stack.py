"""The e2e stack: a throwaway compose stack under its own project name.

Fresh secrets in a temporary env file, ports beside the defaults so a `make up` stack can
keep running, the project image built (cached layers make this quick when warm), every
service healthy before the test starts, and ``down --volumes`` afterwards whatever happened
(``MLSTACK_E2E_KEEP=1`` leaves it up to look at). The stack runs the specs as written except
for the rollout, made test-sized through ``MLSTACK_SPEC_OVERRIDES`` (:data:`E2E_ROLLOUT`).
"""

from __future__ import annotations

import ast
import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

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
    "PROMETHEUS_PORT": os.environ.get("MLSTACK_E2E_PROMETHEUS_PORT", "19090"),
}
#: Prometheus and Airflow's metrics receiver run in the e2e stack (test_stack_metrics.py);
#: Grafana, which has no image on machines without a registry, does not (profile `metrics`)
PROFILES = "metrics"
#: The use case's rollout, test-sized (MLSTACK_SPEC_OVERRIDES): one 50% A/B stage decided in
#: about a minute and a half on a few hundred labelled requests, instead of the spec's shadow
#: → 10% → 50% over weeks. The statistics, guardrails and decisions are the spec's own.
E2E_ROLLOUT = {
    "mode": "ab",
    "stages": [0.5],
    "min_samples": int(os.environ.get("MLSTACK_E2E_ROLLOUT_MIN_SAMPLES", "150")),
    "max_duration": os.environ.get("MLSTACK_E2E_ROLLOUT_MAX_DURATION", "PT90S"),
    "poll_interval": "PT10S",
}
SPEC_OVERRIDES = {"credit_default": {"rollout": E2E_ROLLOUT}}
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

    @property
    def gateway_url(self) -> str:
        """The gateway as the host reaches it (its published port)."""
        return f"http://127.0.0.1:{PORTS['GATEWAY_PORT']}"

    def traffic(self, usecase: str, requests: int, rate: float) -> dict[str, Any]:
        """Simulated requests and their labels, sent from inside the compose network.

        ``docker compose run`` of the ``traffic`` service (profile ``demo``): the project
        image's ``mlstack simulate-traffic`` against ``http://gateway:8000``, the gateway's
        compose address. Returns the counts it printed.
        """
        out = self.compose.run(
            "run", "--rm", "--no-deps", "-T", "traffic",
            "mlstack", "simulate-traffic", usecase, "--url", "http://gateway:8000",
            "--requests", str(requests), "--rate", str(rate),
            capture=True,
        )  # fmt: skip
        line = out.strip().splitlines()[-1]
        found = re.search(
            r"sent (\d+), answered (\d+), failed (\d+), labels (\d+), variants (\{.*\}) in", line
        )
        if found is None:
            raise AssertionError(f"simulate-traffic printed no summary:\n{out[-2000:]}")
        sent, answered, failed, labels = (int(found.group(i)) for i in range(1, 5))
        variants = ast.literal_eval(found.group(5))
        return {
            "sent": sent,
            "answered": answered,
            "failed": failed,
            "labels": labels,
            "variants": variants,
        }

    def dump_logs(self, services: list[str] | None = None, tail: int = 80) -> None:
        """Print the logs of the given services (default: unready ones and the scheduler)."""
        names = services or sorted({*stackctl.unready_services(self.compose), "airflow-scheduler"})
        stackctl.print_logs(self.compose, names, tail)


def _running_unready(compose: stackctl.Compose) -> list[str]:
    """Started services that are not ready yet (those compose did not start are left out)."""
    running = {n for n, c in compose.containers().items() if c.get("State") == "running"}
    return [n for n in stackctl.unready_services(compose) if n in running]


def start_services(compose: stackctl.Compose) -> None:
    """``up --detach``; once more if a dependency was slow to become healthy.

    On a busy machine a service (MLflow, typically) can use up its healthcheck's retries
    before it answers; compose then refuses to start what depends on it, although the
    service turns healthy moments later. A second ``up`` starts the rest. If that fails too,
    the unready services' logs are printed.
    """
    try:
        compose.run("up", "--detach", "--remove-orphans")
        return
    except subprocess.CalledProcessError:
        slow = stackctl.unready_services(compose)
        stackctl.say(f"e2e: `up` failed with {slow} not ready; waiting for them, then once more")
    try:
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline and _running_unready(compose):
            time.sleep(5)
        compose.run("up", "--detach", "--remove-orphans")
    except subprocess.CalledProcessError:
        stackctl.print_logs(compose, stackctl.unready_services(compose))
        raise


@contextmanager
def running_stack(workdir: Path) -> Iterator[Stack]:
    """Build, start and wait for the stack; always tear it down (volumes included)."""
    env_file = workdir / "stack.env"
    extra_env = {**PORTS, "MLSTACK_SPEC_OVERRIDES": json.dumps(SPEC_OVERRIDES)}
    extra_env["COMPOSE_PROFILES"] = PROFILES
    compose = stackctl.Compose(PROJECT, env_file, extra_env=extra_env)
    stackctl.say(f"e2e: removing what an earlier run of {PROJECT} may have left")
    compose.run("down", "--volumes", "--remove-orphans", capture=True, check=False)
    stackctl.ensure_env(env_file, project=PROJECT)
    stackctl.say("e2e: building the project image")
    compose.build()
    try:
        stackctl.say(f"e2e: starting the stack (compose project {PROJECT})")
        start_services(compose)
        elapsed = stackctl.wait_healthy(compose, timeout=600)
        stackctl.say(f"e2e: all services ready after {elapsed:.0f}s")
        password = stackctl.read_env(env_file)["AIRFLOW_ADMIN_PASSWORD"]
        api = AirflowAPI(f"http://127.0.0.1:{PORTS['AIRFLOW_PORT']}", "admin", password)
        yield Stack(compose, api)
    finally:
        if os.environ.get("MLSTACK_E2E_KEEP") == "1":
            stackctl.say(f"e2e: {PROJECT} left up (MLSTACK_E2E_KEEP=1); remove it with "
                         f"docker compose -p {PROJECT} down --volumes")  # fmt: skip
        else:
            stackctl.say(f"e2e: tearing down {PROJECT} (down --volumes)")
            compose.run("down", "--volumes", "--remove-orphans", check=False)
