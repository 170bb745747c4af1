"""Faults under load on the stack's backends (PostgreSQL, MLflow server): the gateway process
SIGKILLed, the journal's disk refusing, the spool folder read-only, rows PostgreSQL refuses.
Each test asserts that what was answered is what is logged (no loss, no duplicate) and that
``/health`` says what is wrong."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from gateway_helpers import applications, gateway_client, records, register_model
from mlstack import integrity, registry, store
from mlstack.gateway.prediction_log import PredictionLogger
from support import free_port, read_only_dir, stop_process, wait_http

pytestmark = pytest.mark.integration
UC = "credit_default"


@pytest.fixture
def champion(server_settings: Any, credit_spec: Any) -> int:
    registry.delete_alias(UC, "challenger", server_settings)
    return register_model(credit_spec, server_settings, estimator="linear", alias="champion")


def _ids(settings: Any) -> list[str]:
    with store.engine(settings).connect() as conn:
        return list(conn.execute(sa.select(store.predictions.c.prediction_id)).scalars())


def _post(url: str, body: dict[str, Any]) -> tuple[int, Any]:
    req = urllib.request.Request(
        url, json.dumps(body).encode(), {"content-type": "application/json"}
    )
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"null")


def _serve(tmp_path: Path, port: int, log: Path) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "MLSTACK_GATEWAY_USECASES": UC,
        "MLSTACK_GATEWAY_SPOOL_DIR": str(tmp_path / "spool"),
        "MLSTACK_GATEWAY_REFRESH_INTERVAL_S": "3600",
        # rows wait in memory long enough that a kill finds thousands there
        "MLSTACK_GATEWAY_LOG_FLUSH_INTERVAL_S": "30",
        "MLSTACK_GATEWAY_LOG_BATCH_SIZE": "100000",
        "MLSTACK_GATEWAY_REPLAY_INTERVAL_S": "0.5",
    }
    cmd = [str(Path(sys.executable).parent / "mlstack"), "gateway", "serve", "--port", str(port)]
    proc = subprocess.Popen(cmd, env=env, stdout=log.open("ab"), stderr=subprocess.STDOUT)
    wait_http(f"http://127.0.0.1:{port}/health", proc, log, timeout=180)
    return proc


def test_gateway_sigkill_under_load_loses_no_answered_prediction(
    server_settings: Any, credit_spec: Any, champion: int, tmp_path: Path
) -> None:
    port, log = free_port(), tmp_path / "gateway.log"
    url = f"http://127.0.0.1:{port}"
    recs = records(credit_spec, applications(200))
    answered: list[str] = []
    refused: list[int] = []
    stop = threading.Event()
    proc = _serve(tmp_path, port, log)

    def hammer(k: int) -> None:
        for i in range(100_000):  # bounded; the kill ends it much sooner
            if stop.is_set():
                return
            try:
                status, body = _post(f"{url}/v1/{UC}/predict", {"records": [recs[(i + k) % 200]]})
            except OSError:  # the connection died with the process: not answered
                return
            if status == 200:
                answered.extend(p["prediction_id"] for p in body["predictions"])
            else:
                refused.append(status)

    threads = [threading.Thread(target=hammer, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    while len(answered) < 300 and proc.poll() is None and any(t.is_alive() for t in threads):
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    stop.set()
    for t in threads:
        t.join()
    before = len(_ids(server_settings))  # the flush interval kept them all in memory
    assert len(answered) >= 300 and not refused
    assert before < len(answered)

    proc = _serve(tmp_path, port, log)  # a new worker replays the dead one's journal
    try:
        ids = _ids(server_settings)
        assert set(answered) <= set(ids)
        assert len(ids) == len(set(ids))  # no duplicates
        assert len(ids) - len(answered) <= 4  # at most the requests in flight at the kill
        with urllib.request.urlopen(f"{url}/health", timeout=10) as resp:
            health = json.loads(resp.read())
        assert health["status"] == "ok", health
        assert health["log_queue"]["journal_unsettled"] == 0
    finally:
        stop_process(proc)
    assert not list((tmp_path / "spool" / "journal").glob("*.journal"))  # a clean stop


def _client(settings: Any, tmp_path: Any, **kw: Any) -> TestClient:
    return gateway_client(settings, tmp_path, UC, **kw)


def test_gateway_journal_disk_refusing_answers_503_and_logs_only_answers(
    server_settings: Any, credit_spec: Any, champion: int, tmp_path: Path
) -> None:
    """The journal's folder becomes unusable (a path under /dev/full: the kernel refuses)
    while four clients send: every 200 is logged, every refusal is a 503 that says why,
    /health is failing; when the folder is back, answers resume by themselves."""
    recs = records(credit_spec, applications(50))
    answered: list[str] = []
    statuses: list[int] = []
    with _client(server_settings, tmp_path) as c:
        journal = c.app.state.service.logger.journal  # type: ignore[attr-defined]
        good_dir = journal.directory

        def hammer(n: int) -> None:
            for i in range(n):
                r = c.post(f"/v1/{UC}/predict", json={"record": recs[i % 50]})
                statuses.append(r.status_code)
                if r.status_code == 200:
                    answered.extend(p["prediction_id"] for p in r.json()["predictions"])
                else:
                    assert r.status_code == 503 and "journal not writable" in r.text

        def load() -> None:
            threads = [threading.Thread(target=hammer, args=(40,)) for _ in range(4)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()

        load()
        journal.directory, journal._broken = Path("/dev/full/journal"), True
        load()
        health = c.get("/health")
        assert health.status_code == 503 and health.json()["status"] == "failing"
        assert any("journal not writable" in p for p in health.json()["problems"])
        journal.directory = good_dir
        load()
        assert c.get("/health").json()["status"] == "ok"
    assert statuses.count(503) == 160 and statuses.count(200) == 320
    ids = _ids(server_settings)
    assert sorted(ids) == sorted(answered)


def test_gateway_spool_read_only_while_database_down_keeps_rows_then_writes_them(
    server_settings: Any, credit_spec: Any, champion: int, tmp_path: Path
) -> None:
    """The database stops and the spool folder is really read-only (``read_only_dir``: a
    read-only bind mount as root, ``chmod`` otherwise): answers go on (journaled, the rows
    wait in memory), /health says both what and why; once both are back every answered row
    is written once."""
    from test_gateway import _set_connections

    recs = records(credit_spec, applications(50))
    answered: list[str] = []
    with _client(server_settings, tmp_path) as c:
        logger = c.app.state.service.logger  # type: ignore[attr-defined]
        _set_connections(server_settings, False)
        try:
            with read_only_dir(logger.spool_dir):
                for i in range(100):
                    r = c.post(f"/v1/{UC}/predict", json={"record": recs[i % 50]})
                    assert r.status_code == 200  # journaled; the queue holds them meanwhile
                    answered.append(r.json()["predictions"][0]["prediction_id"])
                for _ in range(200):  # bounded wait for the writer to find both refusing
                    if logger.spool_error:
                        break
                    time.sleep(0.05)
                health = c.get("/health")
                assert health.status_code == 503, health.json()
                problems = " ".join(health.json()["problems"])
                assert "database unreachable" in problems and "spool not writable" in problems
                assert "Read-only file system" in problems or "Permission denied" in problems
                assert logger.spooled_files() == []  # nothing half-written in the spool
        finally:
            _set_connections(server_settings, True)
        for _ in range(400):
            if len(_ids(server_settings)) >= 100 and not logger.pending()["queued"]:
                break
            time.sleep(0.05)
        assert c.get("/health").json()["status"] == "ok"
    assert sorted(_ids(server_settings)) == sorted(answered)


def test_gateway_rows_postgres_refuses_are_set_aside_not_their_batch(
    server_settings: Any, tmp_path: Path
) -> None:
    """The issue's rows, forced past the input checks straight into the writer: a NUL in an
    entity id, an entity id over 200 characters, a feedback prediction id over 36."""
    from datetime import UTC, datetime

    eng = store.engine(server_settings)
    store.init_tables(eng)
    now = datetime.now(UTC)

    def pred(i: int, entity: str) -> dict[str, Any]:
        return {
            "prediction_id": f"00000000-0000-4000-8000-{i:012d}",
            "usecase": UC,
            "entity_id": entity,
            "rollout_id": None,
            "rollout_stage": None,
            "variant": "champion",
            "model_version": 1,
            "features": {"x": i},
            "prediction": 0.0,
            "score": 0.1,
            "latency_ms": 1.0,
            "created_at": now,
        }

    def label(pid: str) -> dict[str, Any]:
        return {
            "usecase": UC,
            "prediction_id": pid,
            "entity_id": None,
            "label": 1.0,
            "label_at": now,
            "received_at": now,
        }

    logger = PredictionLogger(eng, tmp_path / "spool", flush_interval_s=0.01)
    logger.start()
    rows = [pred(i, f"e{i}") for i in range(30)]
    rows[5]["entity_id"] = "a\x00b"
    rows[17]["entity_id"] = "x" * 201
    logger.log("feedback", [label("p" * 37), label("ok")])
    logger.log("predictions", rows)
    # a spool file of bad feedback sorts before good predictions: replay must get past it
    logger._spool("feedback", [label("q" * 40)])
    logger._spool("predictions", [pred(100 + i, f"s{i}") for i in range(5)])
    logger.stop()
    assert logger.alive() is False and logger.db_ok
    assert logger.stats["rejected"] == 4 and logger.spooled_files() == []
    ids = set(_ids(server_settings))
    assert len(ids) == 33 and rows[5]["prediction_id"] not in ids
    with eng.connect() as conn:
        assert conn.execute(sa.select(store.feedback.c.prediction_id)).scalars().all() == ["ok"]
    reasons = [
        json.loads(line)["reason"]
        for f in logger.rejected_dir.glob("*.jsonl")
        for line in f.read_text().splitlines()
    ]
    assert any("NUL" in r for r in reasons) and any("too long" in r for r in reasons)


def test_gateway_postgres_server_stopped_under_load_loses_nothing(
    server_settings: Any, credit_spec: Any, champion: int, own_postgres: Any, tmp_path: Path
) -> None:
    """A real PostgreSQL server of the test's own (the gateway's mlstack database) is stopped
    (``pg_ctl stop -m fast``) while four clients send predictions and labels, and started
    again later: every request is answered, ``/health`` says degraded while the server is
    down, the spool drains once it is back, and the database then holds exactly the answered
    predictions and accepted labels, once each."""
    settings = server_settings.model_copy(update={"database_url": own_postgres.create_database()})
    for recorded_by in ("train", "promote"):  # the champion's digest, in this new database too
        integrity.record(UC, champion, settings, recorded_by=recorded_by)
    recs = records(credit_spec, applications(200))
    answered: list[str] = []
    labels: list[str] = []
    statuses: list[int] = []
    stop = threading.Event()
    with gateway_client(settings, tmp_path, UC) as c:
        logger = c.app.state.service.logger  # type: ignore[attr-defined]

        def client(k: int) -> None:
            i = k
            while not stop.is_set():
                r = c.post(f"/v1/{UC}/predict", json={"record": recs[i % len(recs)]})
                statuses.append(r.status_code)
                if r.status_code == 200:
                    pid = r.json()["predictions"][0]["prediction_id"]
                    answered.append(pid)
                    if i % 5 == 0:
                        f = c.post(
                            f"/v1/{UC}/feedback",
                            json={"labels": [{"prediction_id": pid, "label": i % 2}]},
                        )
                        statuses.append(f.status_code)
                        if f.status_code == 202:
                            labels.append(pid)
                i += 4

        def wait_for(what: Any, seconds: float) -> None:
            deadline = time.monotonic() + seconds
            while not what() and time.monotonic() < deadline:
                time.sleep(0.05)

        threads = [threading.Thread(target=client, args=(k,)) for k in range(4)]
        for t in threads:
            t.start()
        try:
            wait_for(lambda: len(answered) >= 100 and logger.stats["written"] > 0, 60)
            assert len(answered) >= 100, f"the gateway answered {len(answered)}: {statuses[-5:]}"
            own_postgres.stop()  # under load: the writer's connections are cut mid-flight
            wait_for(lambda: not logger.db_ok, 60)
            during = len(answered)
            wait_for(lambda: len(answered) >= during + 100, 60)  # still answering
            # /health follows the writer's last attempt: poll it while the server is down
            health: dict[str, Any] = {}
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                health = c.get("/health").json()
                if health["database_ok"] is False:
                    break
                time.sleep(0.2)
            assert health["status"] == "degraded", health
            assert health["database_ok"] is False, health
            assert any("database unreachable" in p for p in health["problems"])
            assert logger.stats["spooled"] > 0
            own_postgres.start()
            back = len(answered)
            wait_for(lambda: len(answered) >= back + 100, 60)
        finally:
            stop.set()
            for t in threads:
                t.join()
        wait_for(
            lambda: (
                logger.db_ok
                and not logger.pending()["spool_files"]
                and not logger.pending()["queued"]
            ),
            60,
        )
        health = c.get("/health").json()
        assert health["status"] == "ok", health
    assert set(statuses) <= {200, 202} and len(answered) > during + 200
    with store.engine(settings).connect() as conn:
        logged = list(conn.execute(sa.select(store.predictions.c.prediction_id)).scalars())
        got = list(conn.execute(sa.select(store.feedback.c.prediction_id)).scalars())
    assert len(logged) == len(set(logged)) and sorted(logged) == sorted(answered)
    assert len(got) == len(set(got)) and sorted(got) == sorted(labels)
