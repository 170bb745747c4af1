"""A small client of Airflow 3's REST API, used by the e2e test as any outside client would:
a token from ``POST /auth/token``, then ``/api/v2`` with it."""

from __future__ import annotations

import ssl
import time
from typing import Any

import httpx

TERMINAL = {"success", "failed"}
FAILED_TASK_STATES = {"failed", "upstream_failed"}


class AirflowAPI:
    """Airflow's REST API at ``base_url``, as user ``username``."""

    def __init__(
        self, base_url: str, username: str, password: str, *, verify: str | bool = True
    ) -> None:
        """``verify``: a CA bundle's path for TLS (deploy mode's own CA), or True/False."""
        self.base_url = base_url.rstrip("/")
        self._credentials = {"username": username, "password": password}
        tls = ssl.create_default_context(cafile=verify) if isinstance(verify, str) else verify
        self._http = httpx.Client(base_url=self.base_url, timeout=30, verify=tls)
        self._token_at = 0.0

    def _authenticate(self) -> None:
        # tokens live 24 h by default; renew well before, the e2e run is much shorter anyway
        if time.monotonic() - self._token_at < 600:
            return
        response = self._http.post("/auth/token", json=self._credentials)
        response.raise_for_status()
        self._http.headers["Authorization"] = f"Bearer {response.json()['access_token']}"
        self._token_at = time.monotonic()

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        self._authenticate()
        return self._http.request(method, f"/api/v2{path}", **kwargs)

    def page(self, path: str) -> httpx.Response:
        """A page outside /api/v2 (the UI, plugins), with the same token."""
        self._authenticate()
        return self._http.get(path)

    def get(self, path: str, **params: Any) -> Any:
        response = self.request("GET", path, params=params)
        response.raise_for_status()
        return response.json()

    def dag_exists(self, dag_id: str) -> bool:
        return self.request("GET", f"/dags/{dag_id}").status_code == 200

    def wait_for_dag(self, dag_id: str, timeout: float) -> None:
        """Wait until the dag-processor has parsed ``dag_id`` into the database."""
        deadline = time.monotonic() + timeout
        while not self.dag_exists(dag_id):
            if time.monotonic() > deadline:
                raise AssertionError(f"DAG {dag_id} did not appear within {timeout:.0f}s")
            time.sleep(3)

    def trigger(self, dag_id: str, conf: dict[str, Any]) -> dict[str, Any]:
        """A manual run now (logical date null, as the UI's trigger button does)."""
        response = self.request(
            "POST", f"/dags/{dag_id}/dagRuns", json={"logical_date": None, "conf": conf}
        )
        response.raise_for_status()
        return response.json()

    def runs(self, dag_id: str) -> list[dict[str, Any]]:
        return self.get(f"/dags/{dag_id}/dagRuns", limit=100, order_by="-run_after")["dag_runs"]

    def run(self, dag_id: str, run_id: str) -> dict[str, Any]:
        return self.get(f"/dags/{dag_id}/dagRuns/{run_id}")

    def task_instances(self, dag_id: str, run_id: str) -> list[dict[str, Any]]:
        return self.get(f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances", limit=100)[
            "task_instances"
        ]

    def xcom(self, dag_id: str, run_id: str, task_id: str, key: str = "return_value") -> Any:
        """A task's XCom value (JSON text from the API is decoded)."""
        import json

        path = f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}/xcomEntries/{key}"
        value = self.get(path)["value"]  # as stored: JSON, maybe as text or in serde's wrapper
        if isinstance(value, str):
            try:
                value = json.loads(value)
            except ValueError:
                return value
        if isinstance(value, dict) and "__data__" in value:
            return value["__data__"]
        return value

    def task_log(self, ti: dict[str, Any]) -> str:
        path = (
            f"/dags/{ti['dag_id']}/dagRuns/{ti['dag_run_id']}/taskInstances/"
            f"{ti['task_id']}/logs/{max(ti.get('try_number') or 1, 1)}"
        )
        response = self.request("GET", path, params={"full_content": True})
        if response.status_code != 200:
            return f"(no log: HTTP {response.status_code})"
        content = response.json().get("content", "")
        if not isinstance(content, list):
            return str(content)
        lines = []  # structured log lines: the event, and an exception's type and message
        for line in content:
            if not isinstance(line, dict):
                lines.append(str(line))
                continue
            lines.append(str(line.get("event", line)))
            for error in line.get("error_detail") or []:
                lines.append(f"  {error.get('exc_type')}: {error.get('exc_value')}")
        return "\n".join(lines)

    def wait_run(self, dag_id: str, run_id: str, timeout: float) -> dict[str, Any]:
        """Wait until a DAG run is finished; returns it (state success or failed)."""
        deadline = time.monotonic() + timeout
        while True:
            run = self.run(dag_id, run_id)
            if run["state"] in TERMINAL:
                return run
            if time.monotonic() > deadline:
                state = run["state"]
                raise AssertionError(f"{dag_id} run {run_id} still {state} after {timeout:.0f}s")
            time.sleep(3)
