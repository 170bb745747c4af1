"""``infra/stack.py wait_healthy``: a healthcheck that fails a few times on a crowded machine
is waited out; a service that stays unhealthy, or a job that fails, stops the wait.

Docker cannot run here: the compose object answers a scripted sequence of container states
(the only stand-in), and the clock is the test's."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest
from support import ROOT

sys.path.insert(0, str(ROOT / "infra"))
import stack  # noqa: E402  (infra/stack.py)

SERVICES = {
    "airflow-init": {"image": "mlstack:local"},
    "airflow-scheduler": {"image": "mlstack:local", "healthcheck": {"test": ["CMD", "true"]}},
}
DONE = {"State": "exited", "ExitCode": 0}


class ScriptedCompose(stack.Compose):
    """Answers each poll with the next scheduler health of ``script`` (the last one repeats)."""

    def __init__(self, env_file: Path, script: list[str], init: dict | None = None) -> None:
        super().__init__(env_file=env_file)
        self.script, self.init = list(script), init or DONE

    def services(self) -> dict[str, dict]:
        return SERVICES

    def containers(self) -> dict[str, dict]:
        health = self.script.pop(0) if len(self.script) > 1 else self.script[0]
        return {"airflow-init": self.init,
                "airflow-scheduler": {"State": "running", "Health": health}}  # fmt: skip

    def logs(self, service: str, tail: int = 60) -> str:
        return f"(logs of {service})"


@pytest.fixture
def clock(monkeypatch) -> list[float]:
    """time.monotonic() of the module, advanced 2 s by each sleep between polls."""
    now = [0.0]
    monkeypatch.setattr(stack.time, "monotonic", lambda: now[0])
    monkeypatch.setattr(stack.time, "sleep", lambda s: now.__setitem__(0, now[0] + s))
    return now


def test_a_healthcheck_that_fails_for_a_while_is_waited_out(tmp_path: Path, clock: Any) -> None:
    script = ["starting", *["unhealthy"] * 30, "healthy"]  # 60 s unhealthy, then fine
    compose = ScriptedCompose(tmp_path / ".env", script)
    assert stack.wait_healthy(compose, timeout=600, quiet=True) == pytest.approx(62)


def test_a_service_that_stays_unhealthy_stops_the_wait(tmp_path: Path, clock: Any, capsys) -> None:
    compose = ScriptedCompose(tmp_path / ".env", ["starting", "unhealthy"])
    with pytest.raises(SystemExit, match="airflow-scheduler failed"):
        stack.wait_healthy(compose, timeout=600, quiet=True, grace=120)
    assert 120 <= clock[0] < 130  # not the whole timeout
    assert "(logs of airflow-scheduler)" in capsys.readouterr().err


def test_a_failed_job_stops_the_wait_at_once(tmp_path: Path, clock: Any) -> None:
    compose = ScriptedCompose(tmp_path / ".env", ["starting"], init={"State": "exited",
                                                                     "ExitCode": 1})  # fmt: skip
    with pytest.raises(SystemExit, match="airflow-init failed"):
        stack.wait_healthy(compose, timeout=600, quiet=True)
    assert clock[0] == 0


class DeployedCompose(ScriptedCompose):
    """The same, with deploy mode's Caddy running (it has no health check)."""

    def services(self) -> dict[str, dict]:
        return {**SERVICES, "caddy": {"image": "caddy:2", "restart": "unless-stopped"}}

    def containers(self) -> dict[str, dict]:
        return {**super().containers(), "caddy": {"State": "running"}}


def test_deploy_mode_waits_until_caddy_answers(tmp_path: Path, clock: Any, monkeypatch) -> None:
    answers = [False, False, True]
    monkeypatch.setattr(stack, "proxy_answers", lambda settings: answers.pop(0))
    compose = DeployedCompose(tmp_path / ".env", ["healthy"])
    assert stack.wait_healthy(compose, timeout=600, quiet=True) == pytest.approx(4)
    assert answers == []


def test_caddy_that_never_answers_stops_the_wait_with_its_logs(
    tmp_path: Path, clock: Any, monkeypatch, capsys
) -> None:
    monkeypatch.setattr(stack, "proxy_answers", lambda settings: False)
    compose = DeployedCompose(tmp_path / ".env", ["healthy"])
    with pytest.raises(SystemExit, match="caddy not ready after 30s"):
        stack.wait_healthy(compose, timeout=30, quiet=True)
    assert "(logs of caddy)" in capsys.readouterr().err


def test_proxy_answers_asks_the_bound_address_over_http() -> None:
    import socket
    import threading

    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        port = server.getsockname()[1]

        def answer() -> None:
            conn, _ = server.accept()
            with conn:
                assert conn.recv(100).startswith(b"HEAD / HTTP/1.0")
                conn.sendall(b"HTTP/1.1 308 Permanent Redirect\r\n\r\n")

        thread = threading.Thread(target=answer)
        thread.start()
        assert stack.proxy_answers({"DEPLOY_BIND": "127.0.0.1"}, port=port)
        thread.join()
    assert not stack.proxy_answers({"DEPLOY_BIND": "127.0.0.1"}, port=port)  # nobody listens
