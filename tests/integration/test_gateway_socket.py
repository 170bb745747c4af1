"""The gateway on a Unix socket beside TCP (MLSTACK_GATEWAY_SOCKET; deploy mode's Caddy
reaches it there): a real ``mlstack gateway serve`` with two workers, the stack's backends."""

from __future__ import annotations

import stat
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from gateway_helpers import applications, records, register_model, serve
from mlstack import registry, store
from support import free_port, stop_process

pytestmark = pytest.mark.integration
UC = "credit_default"


def test_the_gateway_answers_on_its_socket_and_one_gateway_holds_it(
    server_settings: Any, credit_spec: Any, tmp_path: Path
) -> None:
    registry.delete_alias(UC, "challenger", server_settings)
    register_model(credit_spec, server_settings, estimator="linear", alias="champion")
    path = tmp_path / "run" / "gateway.sock"
    path.parent.mkdir()
    env = {"MLSTACK_GATEWAY_SOCKET": str(path), "MLSTACK_GATEWAY_WORKERS": "2"}
    log = tmp_path / "gateway.log"
    first = serve(tmp_path, free_port(), log, UC, env)
    second = None
    try:
        assert stat.S_ISSOCK(path.stat().st_mode)
        assert path.stat().st_mode & 0o777 == 0o666  # the proxy runs as another user
        record = records(credit_spec, applications(1))[0]
        with httpx.Client(transport=httpx.HTTPTransport(uds=str(path)), timeout=30) as unix:
            answer = unix.post(f"http://gateway/v1/{UC}/predict", json={"record": record})
            assert answer.status_code == 200, answer.text
            (prediction,) = answer.json()["predictions"]
            assert unix.get("http://gateway/health").json()["status"] == "ok"
            # a second gateway given the same path (replicas sharing the volume) serves TCP
            # only: the first keeps its socket
            second_log = tmp_path / "second.log"
            second = serve(tmp_path / "second", free_port(), second_log, UC, env)
            assert "another gateway's: serving TCP only" in second_log.read_text()
            again = unix.post(f"http://gateway/v1/{UC}/predict", json={"record": record})
            assert again.status_code == 200, again.text
        stop_process(first)
        with store.engine(server_settings).connect() as conn:
            logged = conn.execute(
                sa.select(store.predictions.c.prediction_id).where(
                    store.predictions.c.prediction_id == prediction["prediction_id"]
                )
            ).scalars()
            assert list(logged) == [prediction["prediction_id"]]  # logged as any prediction
        assert not path.exists()  # a clean stop removes its socket
    finally:
        for proc in (first, second):
            if proc is not None and proc.poll() is None:
                stop_process(proc)
