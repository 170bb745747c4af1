"""The gateway on the stack's backends: MLflow server (PostgreSQL + S3), mlstack DB on
PostgreSQL. Predict, 400s, feedback, A/B and shadow, swap under load, database outage under
load with nothing lost, MLflow unreachable while serving."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from gateway_helpers import applications, gateway_client, records, register_model
from mlstack import registry, store
from mlstack.stages import rollout as ro
from train_helpers import spec_variant

pytestmark = pytest.mark.integration
UC = "credit_default"


@pytest.fixture
def models(server_settings: Any, credit_spec: Any) -> dict[str, int]:
    """Champion (logistic regression) and challenger (shallow tree) on the MLflow server."""
    registry.delete_alias(UC, "challenger", server_settings)
    champ = register_model(credit_spec, server_settings, estimator="linear", alias="champion")
    chall = register_model(
        credit_spec, server_settings, estimator="decision_tree", alias="challenger", max_depth=3
    )
    return {"champion": champ, "challenger": chall}


def _client(settings: Any, tmp_path: Any, **kw: Any) -> TestClient:
    return gateway_client(settings, tmp_path, UC, **kw)


def _count(settings: Any, table: sa.Table, **where: Any) -> int:
    with store.engine(settings).connect() as conn:
        q = sa.select(sa.func.count()).select_from(table)
        for k, v in where.items():
            q = q.where(table.c[k] == v)
        return int(conn.execute(q).scalar_one())


def test_gateway_predict_feedback_and_bad_record(
    server_settings: Any, credit_spec: Any, models: dict[str, int], tmp_path: Any
) -> None:
    recs = records(credit_spec, applications(20))
    with _client(server_settings, tmp_path) as c:
        r = c.post(f"/v1/{UC}/predict", json={"records": recs})
        assert r.status_code == 200
        out = r.json()["predictions"]
        assert len(out) == 20
        assert {p["variant"] for p in out} == {"champion"}
        assert {p["model_version"] for p in out} == {models["champion"]}
        assert all(0 <= p["score"] <= 1 and p["prediction"] in (0, 1) for p in out)
        bad = {**recs[0], "credit_score": "high"}
        r = c.post(f"/v1/{UC}/predict", json={"record": bad})
        assert r.status_code == 400
        assert r.json()["detail"][0]["loc"][-1] == "credit_score"
        missing = {k: v for k, v in recs[0].items() if k != "debt_to_income"}
        r = c.post(f"/v1/{UC}/predict", json={"record": missing})
        assert r.status_code == 400 and "debt_to_income" in r.text
        assert c.post("/v1/nope/predict", json={"record": recs[0]}).status_code == 404
        fb = [{"prediction_id": out[0]["prediction_id"], "label": 1.0}]
        fb += [{"entity_id": recs[1]["application_id"], "label": 0.0}]
        assert c.post(f"/v1/{UC}/feedback", json={"labels": fb}).status_code == 202
        assert c.get(f"/v1/{UC}").json()["champion"]["version"] == models["champion"]
        assert "mlstack_gateway_predictions_total" in c.get("/metrics").text
        assert "/v1/{usecase}/predict" in c.get("/openapi.json").json()["paths"]
    assert _count(server_settings, store.predictions) == 20
    assert _count(server_settings, store.feedback) == 2


def test_gateway_shadow_then_ab_split_by_entity_hash(
    server_settings: Any, credit_spec: Any, models: dict[str, int], tmp_path: Any
) -> None:
    spec = spec_variant(credit_spec, rollout={"mode": "shadow", "stages": [0.3]})
    row = ro.start(spec, settings=server_settings)
    recs = records(credit_spec, applications(400))
    with _client(server_settings, tmp_path) as c:
        r = c.post(f"/v1/{UC}/predict", json={"records": recs[:50]}).json()["predictions"]
        assert {p["variant"] for p in r} == {"champion"}  # shadow: champion answers
        with store.engine(server_settings).begin() as conn:
            conn.execute(
                store.rollouts.update()
                .where(store.rollouts.c.rollout_id == row["rollout_id"])
                .values(stage_index=1)
            )
        c.app.state.service.cache.refresh()
        status = c.get(f"/v1/{UC}").json()
        assert status["split"] == {"champion": 0.7, "challenger": 0.3}
        first = c.post(f"/v1/{UC}/predict", json={"records": recs}).json()["predictions"]
        again = c.post(f"/v1/{UC}/predict", json={"records": recs}).json()["predictions"]
    variants = [p["variant"] for p in first]
    assert variants == [p["variant"] for p in again]  # an entity keeps its variant
    share = variants.count("challenger") / len(variants)
    assert 0.22 < share < 0.38
    by_variant = {p["variant"]: p["model_version"] for p in first}
    assert by_variant == {"champion": models["champion"], "challenger": models["challenger"]}
    assert _count(server_settings, store.predictions, variant="shadow") == 50


def test_gateway_alias_swap_under_load_drops_nothing(
    server_settings: Any, credit_spec: Any, models: dict[str, int], tmp_path: Any
) -> None:
    recs = records(credit_spec, applications(50))
    statuses: list[int] = []
    versions: set[int] = set()
    stop = threading.Event()
    with _client(server_settings, tmp_path) as c:

        def hammer() -> None:
            i = 0
            while not stop.is_set():
                r = c.post(f"/v1/{UC}/predict", json={"record": recs[i % 50]})
                statuses.append(r.status_code)
                if r.status_code == 200:
                    versions.add(r.json()["predictions"][0]["model_version"])
                i += 1

        threads = [threading.Thread(target=hammer) for _ in range(4)]
        for t in threads:
            t.start()
        time.sleep(0.5)
        registry.set_alias(UC, "champion", models["challenger"], server_settings)
        assert c.app.state.service.cache.refresh() == {UC: True}
        time.sleep(0.5)
        stop.set()
        for t in threads:
            t.join()
    assert statuses and set(statuses) == {200}
    assert versions == {models["champion"], models["challenger"]}
    assert _count(server_settings, store.predictions) == len(statuses)


def _set_connections(settings: Any, allow: bool) -> None:
    """Make the mlstack database refuse (or accept) connections, like a restart would."""
    url = sa.engine.make_url(settings.database_url)
    admin = sa.create_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'ALTER DATABASE "{url.database}" ALLOW_CONNECTIONS {allow}'))
        if not allow:
            conn.execute(
                sa.text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :d"
                ),
                {"d": url.database},
            )
    admin.dispose()


def test_gateway_database_outage_under_load_loses_no_log(
    server_settings: Any, credit_spec: Any, models: dict[str, int], tmp_path: Any
) -> None:
    recs = records(credit_spec, applications(100))
    answered = 0
    with _client(server_settings, tmp_path) as c:
        logger = c.app.state.service.logger
        for phase in ("up", "down", "up"):
            if phase == "down":
                _set_connections(server_settings, False)
            elif answered:
                _set_connections(server_settings, True)
            for rec in recs:
                assert c.post(f"/v1/{UC}/predict", json={"record": rec}).status_code == 200
                answered += 1
            if phase == "down":
                deadline = time.monotonic() + 10
                while logger.pending()["queued"] and time.monotonic() < deadline:
                    time.sleep(0.05)
                assert logger.stats["spooled"] > 0 and not logger.db_ok
                assert c.get("/health").json()["status"] == "degraded"
        deadline = time.monotonic() + 20
        while logger.pending()["spool_files"] and time.monotonic() < deadline:
            time.sleep(0.1)
    assert answered == 300
    assert _count(server_settings, store.predictions) == 300


def test_gateway_keeps_serving_while_mlflow_is_down_and_recovers(
    server_settings: Any,
    credit_spec: Any,
    mlflow_backend: Any,
    tmp_path: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A real MLflow server of the gateway's own is stopped while it serves, then started
    again on the same port: predictions never stop, the health says why it is degraded, and
    the gateway picks up a new alias once the registry is back."""
    from support import free_port, run_mlflow_server

    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "15")  # a stopped server refuses at once
    backend, port, workdir = mlflow_backend(), free_port(), tmp_path / "mlflow"
    rec = records(credit_spec, applications(1))[0]

    def served(c: TestClient) -> int:
        r = c.post(f"/v1/{UC}/predict", json={"record": rec})
        assert r.status_code == 200, r.text
        return int(r.json()["predictions"][0]["model_version"])

    with contextlib.ExitStack() as gateway:
        with run_mlflow_server(backend, workdir, port) as url:
            settings = server_settings.model_copy(update={"mlflow_tracking_uri": url})
            champ = register_model(credit_spec, settings, estimator="linear")
            c = gateway.enter_context(_client(settings, tmp_path))
            assert served(c) == champ
        # MLflow is down from here on
        assert c.app.state.service.cache.refresh() == {UC: False}
        assert served(c) == champ
        assert "registry unreachable" in c.get("/health").json()["errors"][UC]
        with run_mlflow_server(backend, workdir, port):
            newer = register_model(credit_spec, settings, estimator="linear")
            assert c.app.state.service.cache.refresh() == {UC: True}
            assert served(c) == newer
            assert UC not in c.get("/health").json().get("errors", {})
    # every answer while MLflow was down and after is logged, once
    assert _count(server_settings, store.predictions) == 3


@pytest.fixture(autouse=True)
def _reopen(server_settings: Any) -> Iterator[None]:
    yield
    _set_connections(server_settings, True)
