"""Every SQL query Grafana is provisioned with (dashboards, template variable, alert rules)
runs on a real PostgreSQL as Grafana's read-only role ``mlstack_grafana`` and returns rows.

The monitoring tables are filled by the real path: a small credit_default lake, a trained
champion (promoted by a recorded override), days monitored up to a scripted shock (drift,
alerts, the retrain policy's decisions, realised performance once the late labels are in).
The gateway's rows that a rollout leaves (predictions by variant, the rollout and its
decisions) are inserted as the gateway and the rollout DAG write them. The alert rules then
agree with the monitor: they fire for exactly the kinds it raised on its newest day."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, time, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from grafana_files import expand, sql_queries
from mlstack import db_access, store
from mlstack.stages import monitor, promote, retrain, train
from monitor_helpers import ingest_days, shocked_credit
from monitoring_rows import STAGES, insert
from train_helpers import build_lake

pytestmark = pytest.mark.integration

CALM_DAYS = 14
SHOCK_DAY = 16
LAST_DAY = 16
UC = "credit_default"


def _monitor_days(spec: Any, settings: Any) -> set[str]:
    """Train, promote, then monitor CALM_DAYS..LAST_DAY as the monitor DAG does; the kinds
    of alert its last day raised (what the notifiers were sent)."""
    build_lake(spec, CALM_DAYS, settings)
    trained = train.train(spec)
    # a person's promotion (recorded like the gates' decision): the gates are not this
    # test's subject, and the dashboards show the decision either way
    promote.override(spec, trained.version, reason="first champion", actor="test")
    result = None
    for i in range(CALM_DAYS, LAST_DAY + 1):
        ingest_days(spec, i, i, settings)
        result = monitor.run(spec, spec.simulator.start + timedelta(days=i))
        retrain.evaluate(spec, result.evidence)
    assert result is not None and result.alerts, "the shock raised no alert: nothing to test"
    return {a.kind for a in result.alerts}


def _rollout_rows(spec: Any, settings: Any) -> None:
    """What a rollout of v2 leaves: the gateway's predictions by variant, the rollout, and
    the rollout DAG's decisions (rows as store's tables hold them)."""
    rid = str(uuid.uuid4())
    day = spec.simulator.start + timedelta(days=LAST_DAY)
    at = datetime.combine(day, time(12), tzinfo=UTC)
    insert(settings, store.rollouts, [{
        "rollout_id": rid, "usecase": UC, "champion_version": 1, "challenger_version": 2,
        "stages": STAGES, "stage_index": 1, "state": "running", "started_at": at,
        "stage_started_at": at, "ended_at": None, "actor": "rollout DAG",
    }])  # fmt: skip
    insert(settings, store.rollout_decisions, [{
        "rollout_id": rid, "usecase": UC, "stage_index": 0, "action": "next_stage",
        "reasons": ["no harm shown"], "evidence": {}, "report_uri": None, "created_at": at,
    }])  # fmt: skip
    insert(settings, store.predictions, [{
        "prediction_id": str(uuid.uuid4()), "usecase": UC, "entity_id": f"e{i}",
        "rollout_id": rid, "rollout_stage": 1,
        "variant": "challenger" if i % 10 == 0 else "champion",
        "model_version": 2 if i % 10 == 0 else 1, "features": {}, "prediction": 0.0,
        "score": 0.1, "latency_ms": 1.0, "created_at": at + timedelta(minutes=i),
    } for i in range(50)])  # fmt: skip


def _as_grafana(owner_url: str) -> sa.Engine:
    """An engine logged in as Grafana's role (made first, on mlstack's tables)."""
    store.init_tables(sa.create_engine(owner_url, poolclass=sa.pool.NullPool))
    db_access.ensure_grafana_role(owner_url, "pw")  # the cluster trusts loopback logins
    url = sa.engine.make_url(owner_url).set(username=db_access.GRAFANA_ROLE, password="pw")
    return sa.create_engine(url.render_as_string(hide_password=False), poolclass=sa.pool.NullPool)


def test_every_provisioned_query_returns_rows_as_grafanas_read_only_role(
    pg_s3_settings: Any, credit_spec: Any
) -> None:
    spec = shocked_credit(credit_spec, SHOCK_DAY)
    raised = _monitor_days(spec, pg_s3_settings)
    _rollout_rows(spec, pg_s3_settings)
    grafana = _as_grafana(pg_s3_settings.database_url)

    queries = sql_queries()
    assert len(queries) >= 15
    empty = []
    with grafana.connect() as conn:
        for where, sql in queries:
            rows = conn.execute(sa.text(expand(sql, UC, "2000-01-01", "2100-01-01"))).all()
            if not rows:
                empty.append(where)
            if where.startswith("alert rule mlstack-monitoring-alerts"):
                firing = {r.kind for r in rows if r.alerts > 0}
                assert firing == raised, (firing, raised)  # Grafana and the notifiers agree
                assert {r.usecase for r in rows} == {UC}
    assert not empty, f"queries that returned no row: {empty}"


def test_grafanas_role_reads_no_features_labels_or_keys(pg_s3_settings: Any) -> None:
    grafana = _as_grafana(pg_s3_settings.database_url)
    for statement in (
        "SELECT features FROM predictions",
        "SELECT label FROM feedback",
        "SELECT key_sha256 FROM gateway_keys",
        "DELETE FROM monitoring_metrics",
    ):
        with (
            pytest.raises(sa.exc.ProgrammingError, match="permission denied"),
            grafana.begin() as conn,
        ):
            conn.exec_driver_sql(statement)
