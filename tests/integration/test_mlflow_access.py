"""MLflow with logins, as deploy mode runs it: a real ``mlflow server`` with the basic-auth
app (through infra/mlflow_server.py, which writes its configuration), on PostgreSQL, under
``/mlflow``; mlstack's service accounts made by ``mlstack mlflow-accounts``' code."""

from __future__ import annotations

import secrets
import shutil
from pathlib import Path

import httpx
import pytest
from mlstack import mlflow_access, registry
from support import run_mlflow_server, use_settings

pytestmark = pytest.mark.integration

ADMIN_PASSWORD = secrets.token_urlsafe(16)


@pytest.fixture(scope="module")
def auth_server(mlflow_backend, tmp_path_factory: pytest.TempPathFactory):
    workdir = tmp_path_factory.mktemp("mlflow-auth")
    with run_mlflow_server(mlflow_backend(), workdir, admin_password=ADMIN_PASSWORD) as url:
        yield url


def accounts(gateway_password: str) -> list[mlflow_access.Account]:
    return [
        mlflow_access.Account("airflow", "airflow-" + ADMIN_PASSWORD, mlflow_access.MANAGE),
        mlflow_access.Account("gateway", gateway_password, mlflow_access.READ),
    ]


def search(url: str, auth: tuple[str, str] | None) -> httpx.Response:
    return httpx.get(f"{url}/api/2.0/mlflow/experiments/search?max_results=5", auth=auth)


def test_service_accounts_and_their_grants(auth_server: str, monkeypatch, tmp_path: Path) -> None:
    url = auth_server
    # anonymous, MLflow's stock admin password, and a wrong one: refused
    assert search(url, None).status_code == 401
    assert search(url, ("admin", "password1234")).status_code == 401
    assert search(url, ("admin", ADMIN_PASSWORD)).status_code == 200
    # something made before the accounts existed (a stack that ran without logins)
    with mlflow_access._logged_in("admin", ADMIN_PASSWORD):
        old = registry.client(use_settings(monkeypatch, mlflow_tracking_uri=url))
        old_experiment = old.create_experiment("before-logins")
        old.create_registered_model("before_logins")

    done = mlflow_access.ensure_accounts(url, ("admin", ADMIN_PASSWORD), accounts("gateway-pass-1"))
    assert done == {"airflow": "created", "gateway": "created"}
    # roles, not grants per resource: what is created later is covered too

    # the tasks' account creates an experiment and a model; the gateway may read them at once
    settings = use_settings(monkeypatch, mlflow_tracking_uri=url)
    monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", "airflow")
    monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", "airflow-" + ADMIN_PASSWORD)
    new_experiment = registry.experiment_id("after-logins", settings)
    registry.client(settings).create_registered_model("after_logins")

    gateway = ("gateway", "gateway-pass-1")
    for experiment in (old_experiment, new_experiment):
        got = httpx.get(f"{url}/api/2.0/mlflow/experiments/get",
                        params={"experiment_id": experiment}, auth=gateway)  # fmt: skip
        assert got.status_code == 200, (experiment, got.text)
    for model in ("before_logins", "after_logins"):
        got = httpx.get(f"{url}/api/2.0/mlflow/registered-models/get",
                        params={"name": model}, auth=gateway)  # fmt: skip
        assert got.status_code == 200, (model, got.text)
        # read-only: it may not move an alias or delete the model
        moved = httpx.post(f"{url}/api/2.0/mlflow/registered-models/alias",
                           json={"name": model, "alias": "champion", "version": "1"},
                           auth=gateway)  # fmt: skip
        assert moved.status_code == 403, moved.text
        deleted = httpx.request("DELETE", f"{url}/api/2.0/mlflow/registered-models/delete",
                                json={"name": model}, auth=gateway)  # fmt: skip
        assert deleted.status_code == 403, deleted.text
    # the writer manages what existed before it, too
    renamed = httpx.patch(f"{url}/api/2.0/mlflow/registered-models/update",
                         json={"name": "before_logins", "description": "kept"},
                         auth=("airflow", "airflow-" + ADMIN_PASSWORD))  # fmt: skip
    assert renamed.status_code == 200, renamed.text


def test_running_again_resets_passwords(auth_server: str) -> None:
    url = auth_server
    mlflow_access.ensure_accounts(url, ("admin", ADMIN_PASSWORD), accounts("gateway-pass-1"))
    done = mlflow_access.ensure_accounts(url, ("admin", ADMIN_PASSWORD), accounts("gateway-pass-2"))
    assert done == {"airflow": "password set", "gateway": "password set"}
    assert search(url, ("gateway", "gateway-pass-1")).status_code == 401
    assert search(url, ("gateway", "gateway-pass-2")).status_code == 200


def test_a_team_reads_its_use_case_and_nothing_else(auth_server: str, monkeypatch) -> None:
    """``team.users`` with an MLflow account get READ on their use case's experiment and
    model (granted by ``mlstack mlflow-accounts``), and still nothing of another use case."""
    url = auth_server
    admin = ("admin", ADMIN_PASSWORD)
    settings = use_settings(monkeypatch, mlflow_tracking_uri=url)
    with mlflow_access._logged_in(*admin):
        client = registry.client(settings)
        ours = registry.experiment_id("team_a_model", settings)
        theirs = registry.experiment_id("team_b_model", settings)
        for name in ("team_a_model", "team_b_model"):
            client.create_registered_model(name)
        from mlflow.server import get_app_client

        get_app_client("basic-auth", tracking_uri=url).create_user("alice", "alice-pass-1")
    alice = ("alice", "alice-pass-1")

    def reads(path: str, **params: str) -> int:
        return httpx.get(f"{url}/api/2.0/mlflow/{path}", params=params, auth=alice).status_code

    assert reads("experiments/get", experiment_id=ours) == 403  # before the grant
    grant = mlflow_access.TeamGrant("team_a", "team_a_model", "team_a_model", ("alice", "bob"))
    done = mlflow_access.grant_teams(url, admin, [grant])
    assert done == [
        "team_a: alice may read experiment team_a_model and model team_a_model",
        "team_a: bob has no MLflow account yet: not granted",
    ]
    assert mlflow_access.grant_teams(url, admin, [grant]) == done  # every start: idempotent
    assert reads("experiments/get", experiment_id=ours) == 200
    assert reads("registered-models/get", name="team_a_model") == 200
    assert reads("experiments/get", experiment_id=theirs) == 403
    assert reads("registered-models/get", name="team_b_model") == 403
    moved = httpx.post(f"{url}/api/2.0/mlflow/registered-models/alias",
                       json={"name": "team_a_model", "alias": "champion", "version": "1"},
                       auth=alice)  # fmt: skip
    assert moved.status_code == 403, moved.text  # read-only: promotion stays mlstack's


def test_a_person_added_by_group_reads_that_groups_use_cases(
    auth_server: str, monkeypatch, tmp_path: Path
) -> None:
    """``mlstack mlflow-users add NAME --group G`` (run in the mlflow-accounts job): an MLflow
    login with a generated password shown once, READ on every use case whose ``team.groups``
    names G (MLflow has no groups: the specs resolve them), nothing on the others; ``grant``
    grants again without touching the password."""
    from click.testing import CliRunner
    from mlstack.cli import main

    url = auth_server
    admin = ("admin", ADMIN_PASSWORD)
    usecases = tmp_path / "usecases"
    source = Path(__file__).resolve().parents[2] / "include" / "usecases"
    for name in ("credit_default", "diabetes"):  # groups risk-data-science, clinical-analytics
        shutil.copytree(source / name, usecases / name)
    settings = use_settings(monkeypatch, mlflow_tracking_uri=url, usecases_dir=str(usecases))
    with mlflow_access._logged_in(*admin):
        for name in ("credit_default", "diabetes"):
            registry.experiment_id(name, settings)
            registry.client(settings).create_registered_model(name)
    runner = CliRunner()
    monkeypatch.delenv("MLFLOW_ADMIN_PASSWORD", raising=False)
    refused = runner.invoke(main, ["mlflow-users", "add", "carol", "--group", "risk-data-science"])
    assert refused.exit_code == 2 and "MLFLOW_ADMIN_PASSWORD" in refused.output, refused.output
    monkeypatch.setenv("MLFLOW_ADMIN_PASSWORD", ADMIN_PASSWORD)
    added = runner.invoke(main, ["mlflow-users", "add", "carol", "--group", "risk-data-science"])
    assert added.exit_code == 0, added.output
    assert "mlflow user carol: created" in added.output
    assert "credit_default: carol may read experiment credit_default and model credit_default" in (
        added.output
    )
    password = added.output.split("password of carol:")[1].split()[0]
    carol = ("carol", password)
    assert search(url, carol).status_code == 200

    def reads(path: str, **params: str) -> int:
        return httpx.get(f"{url}/api/2.0/mlflow/{path}", params=params, auth=carol).status_code

    assert reads("registered-models/get", name="credit_default") == 200
    assert reads("registered-models/get", name="diabetes") == 403
    again = runner.invoke(main, ["mlflow-users", "grant", "carol", "--group", "risk-data-science"])
    assert again.exit_code == 0 and "password" not in again.output, again.output
    assert search(url, carol).status_code == 200  # the password is unchanged
