"""The gateway's own database role (deploy mode), on a real PostgreSQL: the in-process gateway,
logged in as ``mlstack_gateway``, answers a keyed prediction and takes a label, and both reach
the database; with the same login nothing else is possible — no other table is readable, no
prediction can be changed or deleted, no key made (`mlstack gateway keys` says where to run
it instead), no promotion forged, no table created.

The test cluster trusts loopback logins (``initdb --auth=trust``), so passwords are not
checked here; the compose e2e (deploy mode) logs the gateway in with its password."""

from __future__ import annotations

import time
from typing import Any

import pytest
import sqlalchemy as sa
from gateway_helpers import applications, gateway_client, records, register_model
from mlstack import db_access, migrations, store
from mlstack.exceptions import ApiKeyError
from mlstack.gateway import keys
from support import use_settings

pytestmark = pytest.mark.integration
UC = "credit_default"


def _role_url(owner_url: str) -> str:
    url = sa.engine.make_url(owner_url).set(username=db_access.GATEWAY_ROLE, password="pw")
    return url.render_as_string(hide_password=False)


def _count(url: str, table: sa.Table) -> int:
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    with engine.connect() as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one())


def _refused(url: str, statement: str) -> str:
    """The database's refusal of ``statement`` under the login of ``url``."""
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    with pytest.raises(sa.exc.ProgrammingError) as refused, engine.begin() as conn:
        conn.exec_driver_sql(statement)
    return str(refused.value.orig)


def test_the_gateway_role_serves_and_can_do_nothing_else(
    pg_s3_settings: Any, credit_spec: Any, tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    owner = pg_s3_settings
    register_model(credit_spec, owner, estimator="linear", alias="champion")
    made, key = keys.create("app", [UC], ["predict", "feedback"], owner)
    grants = db_access.ensure_gateway_role(owner.database_url, "pw")
    assert grants == db_access.GATEWAY_GRANTS
    assert db_access.ensure_gateway_role(owner.database_url, "pw") == grants  # idempotent

    role_url = _role_url(owner.database_url)
    role = sa.create_engine(role_url, poolclass=sa.pool.NullPool)
    assert migrations.current(role) == migrations.HEAD  # its startup check needs no migration
    gateway = use_settings(monkeypatch, database_url=role_url)
    bearer = {"Authorization": f"Bearer {key}"}
    record = records(credit_spec, applications(1))[0]
    with gateway_client(gateway, tmp_path, UC, require_keys=True) as client:
        answer = client.post(f"/v1/{UC}/predict", json={"record": record}, headers=bearer)
        assert answer.status_code == 200, answer.text
        prediction_id = answer.json()["predictions"][0]["prediction_id"]
        label = {"labels": [{"prediction_id": prediction_id, "label": 1.0}]}
        assert client.post(f"/v1/{UC}/feedback", json=label, headers=bearer).status_code == 202
        again = {"labels": [{"prediction_id": prediction_id, "label": 0.0}]}
        assert client.post(f"/v1/{UC}/feedback", json=again, headers=bearer).status_code == 202
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if _count(owner.database_url, store.predictions) == 1:
                break
            time.sleep(0.2)
    # written by the gateway's role, not spooled for want of a grant
    assert _count(owner.database_url, store.predictions) == 1
    assert _count(owner.database_url, store.feedback) == 1  # the second label replaced the first
    spool = tmp_path / "spool"
    assert not [*spool.glob("*.jsonl"), *spool.glob("rejected/*")], "rows not written"

    for statement in (
        "SELECT * FROM monitoring_metrics",
        "SELECT features FROM predictions",
        "DELETE FROM predictions",
        f"UPDATE predictions SET score = 0 WHERE prediction_id = '{prediction_id}'",
        "INSERT INTO gateway_keys (key_id) VALUES ('forged')",
        "UPDATE promotion_decisions SET outcome = 'champion'",
        "DELETE FROM model_digests",
        "DELETE FROM feedback",
        "CREATE TABLE mine (x int)",
    ):
        assert "permission denied" in _refused(role_url, statement), statement
    # `mlstack gateway keys` run with the gateway's login says where to run it instead
    for change in (
        lambda: keys.create("mine", [UC], ["predict"], gateway),
        lambda: keys.revoke(made.key_id, gateway),
    ):
        with pytest.raises(ApiKeyError, match="exec airflow-scheduler mlstack gateway keys"):
            change()
    assert keys.list_keys(owner)[0].revoked_at is None


def test_the_role_needs_the_tables_and_a_password(postgres_url: str) -> None:
    with pytest.raises(db_access.DatabaseAccessError, match="MLSTACK_GATEWAY_DB_PASSWORD"):
        db_access.ensure_gateway_role(postgres_url, "")
    with pytest.raises(db_access.DatabaseAccessError, match="mlstack init"):
        db_access.ensure_gateway_role(postgres_url, "pw")  # an empty database: no tables yet
    with pytest.raises(db_access.DatabaseAccessError, match="plain lower-case"):
        store.init_tables(sa.create_engine(postgres_url))
        db_access.ensure_role(postgres_url, "pw", role='x"; DROP TABLE predictions; --')
