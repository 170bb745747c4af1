"""Deploy mode's Airflow logins, on a real ``airflow api-server`` with the FAB auth manager.

The test starts what the stack's airflow-init and api-server run, on a migrated SQLite
metadata DB of its own: ``airflow db migrate``, ``airflow dags reserialize`` (the repo's two
use cases), ``mlstack users sync`` (generated roles, the admin from AIRFLOW_ADMIN_PASSWORD),
``mlstack users add`` for people, then ``airflow api-server`` with the repo's plugins. The
repo's specs name their teams as groups (credit_default: ``risk-data-science``, diabetes:
``clinical-analytics``); MLSTACK_SPEC_OVERRIDES adds ``dora`` to diabetes' ``team.users``.

- alice (group risk-data-science) reads and triggers credit_default's DAGs and reads its
  pages; diabetes' DAGs and pages answer 403, and the DAG list and the monitoring summary
  leave it out;
- dora (named in diabetes' team.users) the other way round;
- frank (no group, no team) may log in but reads no DAG and no page;
- admin reads both; the CLI's passwords work once set, and a removed user cannot log in.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from support import ROOT, free_port, run_airflow_api_server

pytestmark = pytest.mark.integration

FAB = "airflow.providers.fab.auth_manager.fab_auth_manager.FabAuthManager"
ADMIN_PASSWORD = "admin-test-password"
ALICE_PASSWORD = "alice-test-password"
X, Y = "credit_default", "diabetes"  # alice's use case, and the one she may not read


@dataclass(frozen=True)
class Stack:
    """The api-server's URL, the environment its commands run in, dora's printed password."""

    url: str
    env: dict[str, str]
    dora_password: str


def _run(env: dict[str, str], *args: str, stdin: str | None = None) -> str:
    """A command of the stack (``airflow ...`` or ``mlstack ...``) in the test's Airflow home;
    its output, or a failure showing it."""
    command = [sys.executable, "-m", "airflow" if args[0] == "airflow" else "mlstack.cli"]
    done = subprocess.run(
        [*command, *args[1:]], env=env, input=stdin, capture_output=True, text=True, timeout=600
    )
    if done.returncode != 0:
        raise AssertionError(f"{args} exited {done.returncode}:\n{done.stdout}\n{done.stderr}")
    return done.stdout


def _call(base: str, path: str, token: str | None = None, body: object = None) -> tuple[int, str]:
    """(status, body) of a GET, or of a POST when ``body`` is given."""
    headers = {"Content-Type": "application/json", "Accept": "application/json"}
    headers |= {"Authorization": f"Bearer {token}"} if token else {}
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(f"{base}{path}", data=data, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=120) as resp:
            return int(resp.status), resp.read().decode()
    except urllib.error.HTTPError as exc:
        return int(exc.code), exc.read().decode()


def _token(base: str, username: str, password: str) -> str:
    """A JWT from ``POST /auth/token``, as API clients log in with FAB."""
    status, text = _call(base, "/auth/token", body={"username": username, "password": password})
    assert status in (200, 201), (username, status, text)
    return str(json.loads(text)["access_token"])


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    home = tmp_path_factory.mktemp("fab-airflow")
    env = {
        **os.environ,
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__AUTH_MANAGER": FAB,
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home}/airflow.db",
        "AIRFLOW__CORE__DAGS_FOLDER": str(ROOT / "dags"),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(ROOT / "plugins"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__API_AUTH__JWT_SECRET": "fab-test-jwt-secret",
        "AIRFLOW__API__SECRET_KEY": "fab-test-api-secret",
        "MLSTACK_HOME": str(home / "mlstack"),
        "MLSTACK_SPEC_OVERRIDES": json.dumps({Y: {"team": {"users": ["dora"]}}}),
    }
    _run(env, "airflow", "db", "migrate")
    _run(env, "airflow", "dags", "reserialize")
    synced = _run({**env, "AIRFLOW_ADMIN_PASSWORD": ADMIN_PASSWORD}, "mlstack", "users", "sync")
    assert "airflow account admin: created" in synced
    assert f"airflow role group:risk-data-science: {2 * 6 + 1} permission(s) added" in synced
    _run(env, "mlstack", "users", "add", "alice", "--group", "risk-data-science",
         "--password-stdin", stdin=ALICE_PASSWORD + "\n")  # fmt: skip
    added = _run(env, "mlstack", "users", "add", "dora")  # her password: generated, shown once
    assert "created with roles mlstack-member, usecase:diabetes" in added
    dora_password = added.split("password of dora:")[1].split()[0]
    _run(env, "mlstack", "users", "add", "frank", "--password-stdin", stdin="frank-pw\n")

    with run_airflow_api_server(env, free_port(), home / "api-server.log", timeout=300) as base:
        yield Stack(base, env, dora_password)


def _dag_ids(base: str, token: str) -> set[str]:
    status, text = _call(base, "/api/v2/dags?limit=100", token)
    assert status == 200, text
    return {d["dag_id"] for d in json.loads(text)["dags"]}


def test_a_team_member_reads_and_triggers_only_their_usecases_dags(stack: Stack) -> None:
    for user, password, mine, other in [
        ("alice", ALICE_PASSWORD, X, Y),
        ("dora", stack.dora_password, Y, X),
    ]:
        token = _token(stack.url, user, password)
        assert {d.split("__")[0] for d in _dag_ids(stack.url, token)} == {mine}, user
        assert _call(stack.url, f"/api/v2/dags/{mine}__ingest", token)[0] == 200, user
        status, text = _call(stack.url, f"/api/v2/dags/{other}__ingest", token)
        assert status == 403, (user, text)
        for dag, expected in [(f"{mine}__catalog", 200), (f"{other}__catalog", 403)]:
            status, text = _call(
                stack.url, f"/api/v2/dags/{dag}/dagRuns", token, {"logical_date": None}
            )
            assert status == expected, (user, dag, text)
        assert _call(stack.url, f"/api/v2/dags/{other}__catalog/dagRuns", token)[0] == 403


def test_a_team_member_sees_only_their_usecases_pages(stack: Stack) -> None:
    token = _token(stack.url, "alice", ALICE_PASSWORD)
    mine = [f"/mlstack/monitoring/{X}", f"/mlstack/monitoring/api/{X}", f"/mlstack/catalog/{X}"]
    for page in mine:
        assert _call(stack.url, page, token)[0] == 200, page
    for page in [p.replace(X, Y) for p in mine] + [
        f"/mlstack/monitoring/reports/{Y}/2026-02-14/monitor.html",
        f"/mlstack/monitoring/rollouts/{Y}/r1/0-next_stage.html",
    ]:
        status, text = _call(stack.url, page, token)
        assert status == 403, (page, text)
        assert f"you may not read use case '{Y}'" in text
    status, summary = _call(stack.url, "/mlstack/monitoring/", token)
    assert status == 200
    assert f"<h2>{X}</h2>" in summary and Y not in summary


def test_admin_reads_every_usecase_and_a_member_without_a_team_none(stack: Stack) -> None:
    admin = _token(stack.url, "admin", ADMIN_PASSWORD)
    every = {p.parent.name for p in (ROOT / "include" / "usecases").glob("*/usecase.yaml")}
    assert {X, Y} <= every
    assert {d.split("__")[0] for d in _dag_ids(stack.url, admin)} == every
    for usecase in (X, Y):
        assert _call(stack.url, f"/mlstack/catalog/{usecase}", admin)[0] == 200
    frank = _token(stack.url, "frank", "frank-pw")
    assert _call(stack.url, "/api/v2/dags?limit=100", frank)[0] == 403
    assert _call(stack.url, f"/api/v2/dags/{X}__ingest", frank)[0] == 403
    assert _call(stack.url, "/mlstack/monitoring/", frank)[0] == 403
    assert _call(stack.url, f"/mlstack/catalog/{X}", frank)[0] == 403


def test_users_cli_lists_sets_passwords_and_removes(stack: Stack) -> None:
    listed = json.loads(_run(stack.env, "mlstack", "users", "list", "--json"))
    by_name = {a["username"]: a for a in listed}
    assert by_name["alice"]["groups"] == ["risk-data-science"]
    assert by_name["alice"]["usecases"] == [X] and by_name["dora"]["usecases"] == [Y]
    assert by_name["admin"]["admin"] and by_name["frank"]["usecases"] == []

    _run(stack.env, "mlstack", "users", "set-password", "frank", "--password-stdin",
         stdin="frank-new-pw\n")  # fmt: skip
    body = {"username": "frank", "password": "frank-pw"}
    assert _call(stack.url, "/auth/token", body=body)[0] == 401
    assert _token(stack.url, "frank", "frank-new-pw")

    _run(stack.env, "mlstack", "users", "remove", "frank")
    body = {"username": "frank", "password": "frank-new-pw"}
    assert _call(stack.url, "/auth/token", body=body)[0] == 401
    refused = subprocess.run(
        [sys.executable, "-m", "mlstack.cli", "users", "remove", "admin"],
        env=stack.env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert refused.returncode == 2 and "re-created on every start" in refused.stderr
