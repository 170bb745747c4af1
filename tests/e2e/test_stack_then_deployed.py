"""Deploy mode, on the same stack: after the lifecycle test (test_stack_lifecycle.py, which
pytest runs first: files run in name order), the e2e stack is switched to deploy mode as
`make deploy` does — the deploy overlay's settings in its env file, ``up`` again — and then
checked from outside, as a client on the network would see it:

- only Caddy publishes ports; the services' own ports are closed;
- plain HTTP redirects to HTTPS, and TLS verifies against the CA certificate `make deploy`
  exports (and not against the system's trust store);
- Airflow's REST API and mlstack's pages refuse anonymous requests and answer a logged-in
  user through the proxy; the login form brings a browser back over HTTPS with HTTPS-only
  cookies; Airflow's execution API is not reachable from outside; a member of
  one use case's team sees its DAGs and pages and is refused the other's;
- the MinIO console asks for the proxy's admin login;
- MLflow refuses anonymous requests and MLflow's stock admin password, and answers its
  admin with the generated one; the gateway's account may read but not move an alias;
- the gateway refuses a request without an API key (401) and a predict-only key's feedback
  (403), and answers a prediction with a key; the scheduler's tasks reach MLflow under its
  ``/mlflow`` prefix with their login;
- a version aliased by hand with altered files is refused by the gateway (which keeps
  answering with the old champion), by ``mlstack models verify`` and by the monitor;
- two gateway replicas behind Caddy share the requests, give an entity the same variant
  on either, log every answered prediction once, and both refuse the hand-aliased version;
- the gateway logs in to Postgres as its own role, which cannot read the monitoring tables;
  MinIO's root password and the Postgres superuser's stay with the jobs that set up accounts;
- Postgres is not reachable from the proxy's container (separate networks);
- every container runs with no-new-privileges and all capabilities dropped.

Re-using the stack keeps CI to one bring-up: the switch recreates the containers whose
configuration changed (most of them), on the same volumes. The switch (deploy_mode.py, the
session fixture ``deployed`` in conftest.py) also turns on the scale profile with two Celery
workers, which test_stack_then_deployed_on_celery.py checks after this file.
"""

from __future__ import annotations

import json
import re
import secrets
import subprocess
import time

import httpx
import pytest
from airflow_api import AirflowAPI
from deploy_mode import BASE, HOST, client, past_admin_login, stand_in_s3
from e2e_stack import PORTS, stackctl
from support import CREDIT_ROW

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(1200)]

USECASE = "credit_default"
#: One request record: the id and the model's input fields, typed as in its signature.
RECORD = {
    "application_id": "e2e-deployed-1",
    **{k: v for k, v in CREDIT_ROW.items() if k != "application_date"},
    **{k: int(CREDIT_ROW[k]) for k in ("age", "credit_score", "loan_term_months")},
    **{k: int(CREDIT_ROW[k]) for k in ("num_open_accounts", "num_late_payments")},
    **{k: float(CREDIT_ROW[k]) for k in ("income", "employment_years", "debt_to_income")},
    "loan_amount": float(CREDIT_ROW["loan_amount"]),
}


def test_only_the_proxy_is_published(deployed: dict) -> None:
    published = {
        name: sorted({p["PublishedPort"] for p in row.get("Publishers") or []} - {0})
        for name, row in deployed["compose"].containers().items()
    }
    assert {name for name, ports in published.items() if ports} == {"caddy"}, published
    assert published["caddy"] == [80, 443]
    for port in PORTS.values():  # what the laptop-mode stack published: closed now
        with pytest.raises(httpx.ConnectError):
            httpx.get(f"http://127.0.0.1:{port}/", timeout=5)


def test_http_redirects_and_tls_verifies_against_the_exported_ca(deployed: dict) -> None:
    answer = httpx.get(f"http://{HOST}/api/v2/version", timeout=10)
    assert answer.status_code == 308, answer.text
    assert answer.headers["location"] == f"https://{HOST}/api/v2/version"
    with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
        httpx.get(f"{BASE}/api/v2/version", timeout=10)  # the system trust store: no
    with client(deployed["ca"]) as http:
        answer = http.get("/api/v2/monitor/health")
    assert answer.status_code == 200, answer.text
    assert answer.headers.get("strict-transport-security", "").startswith("max-age=")


def test_airflow_refuses_anonymous_and_answers_a_logged_in_user(deployed: dict) -> None:
    with client(deployed["ca"]) as http:
        assert http.get("/api/v2/dags").status_code == 401
        page = http.get("/mlstack/monitoring/", follow_redirects=False)
        assert page.status_code in (302, 303, 307, 401), page.status_code
        assert http.get("/execution/health").status_code == 404  # tasks' API: inside only
    api = AirflowAPI(BASE, "admin", deployed["password"], verify=str(deployed["ca"]))
    dags = {d["dag_id"] for d in api.get("/dags", limit=100)["dags"]}
    assert f"{USECASE}__monitor" in dags
    assert api.page("/mlstack/monitoring/").status_code == 200


def test_the_login_form_through_the_proxy_stays_on_https(deployed: dict) -> None:
    """A browser sent from a page to Airflow's login form comes back to the page over HTTPS,
    and the login's cookies are HTTPS-only. Without the api-server reading Caddy's
    X-Forwarded-Proto the form redirected to http:// with a token cookie a browser sends in
    clear text (HSTS does not cover a VM reached by its address)."""
    html = {"Accept": "text/html"}
    with client(deployed["ca"], headers=html) as http:
        page = http.get("/mlstack/monitoring/", follow_redirects=False)
        assert page.status_code == 303, page.text
        assert page.headers["location"] == "/api/v2/auth/login?next=%2Fmlstack%2Fmonitoring%2F"
        form = http.get(page.headers["location"], follow_redirects=True)
        assert form.status_code == 200 and str(form.url).startswith(f"{BASE}/auth/login/")
        token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', form.text)
        assert token, form.text[:500]
        fields = {"csrf_token": token[1], "username": "admin", "password": deployed["password"]}
        signed_in = http.post(
            str(form.url), data=fields, headers={"Referer": str(form.url)}, follow_redirects=False
        )
        assert signed_in.status_code == 302, signed_in.text
        assert signed_in.headers["location"] == f"{BASE}/mlstack/monitoring/"
        cookies = {c.split("=", 1)[0]: c for c in signed_in.headers.get_list("set-cookie")}
        assert "_token" in cookies, cookies
        for name, cookie in cookies.items():
            assert "; secure" in cookie.lower(), f"{name} is not HTTPS-only: {cookie}"
        assert http.get("/mlstack/monitoring/").status_code == 200


def test_the_minio_console_is_behind_the_proxys_admin_login(deployed: dict) -> None:
    """The console is for admins: Caddy asks for its own admin login before MinIO's."""
    past = past_admin_login(deployed, "/minio/")
    # past the login: MinIO's console (its login page) — or, with the CI's S3 stand-in, which
    # has no console, the proxy's 502
    assert past.status_code == (502 if stand_in_s3() else 200), past.text


def test_grafana_is_behind_the_proxys_admin_login(deployed: dict) -> None:
    """/grafana/ asks for the proxy's admin login first. Past it the e2e stack (profile
    `metrics`: no Grafana image here) has no Grafana: the proxy's 502."""
    past = past_admin_login(deployed, "/grafana/")
    assert past.status_code == 502, past.text


def test_a_team_member_sees_only_their_use_case(deployed: dict) -> None:
    """Airflow runs the FAB auth manager in deploy mode: a user added to credit_default's
    team group reads and lists its DAGs and pages, and is refused diabetes'."""
    password = secrets.token_urlsafe(16)
    deployed["compose"].run(
        "exec", "-T", "airflow-apiserver", "mlstack", "users", "add", "alice-e2e",
        "--group", "risk-data-science", "--password-stdin", input=password + "\n", capture=True,
    )  # fmt: skip
    alice = AirflowAPI(BASE, "alice-e2e", password, verify=str(deployed["ca"]))
    dags = {d["dag_id"] for d in alice.get("/dags", limit=100)["dags"]}
    assert f"{USECASE}__monitor" in dags, dags
    assert not any(dag.startswith("diabetes__") for dag in dags), dags
    assert alice.request("GET", "/dags/diabetes__monitor").status_code == 403
    assert alice.page(f"/mlstack/monitoring/{USECASE}").status_code == 200
    assert alice.page("/mlstack/monitoring/diabetes").status_code == 403


def test_mlflow_requires_a_login(deployed: dict) -> None:
    env = stackctl.read_env(deployed["compose"].env_file)
    search = "/mlflow/api/2.0/mlflow/registered-models/search"
    with client(deployed["ca"]) as http:
        assert http.get(search).status_code == 401
        assert http.get(search, auth=("admin", "password1234")).status_code == 401
        found = http.get(search, auth=("admin", env["MLFLOW_ADMIN_PASSWORD"]))
        assert found.status_code == 200, found.text
        models = {m["name"] for m in found.json().get("registered_models", [])}
        assert USECASE in models, f"the lifecycle's model is not in MLflow: {found.text}"
        gateway = ("gateway", env["MLFLOW_GATEWAY_PASSWORD"])
        assert http.get(search, auth=gateway).status_code == 200  # made before logins: covered
        moved = http.post(
            "/mlflow/api/2.0/mlflow/registered-models/alias",
            json={"name": USECASE, "alias": "champion", "version": "1"},
            auth=gateway,
        )
        assert moved.status_code == 403, moved.text


def gateway_key(compose: stackctl.Compose, *scopes: str) -> str:
    """A new API key of the gateway, as an operator makes one (printed once), where the
    owner's database login is (the gateway's own role may not write keys)."""
    args = [arg for scope in scopes for arg in ("--scope", scope)]
    out = compose.run("exec", "-T", "airflow-scheduler", "mlstack", "gateway", "keys", "create",
                      "--name", "e2e", "--usecase", USECASE, *args, capture=True)  # fmt: skip
    return next(word for word in out.split() if word.startswith("mlsk_"))


def first_prediction(http: httpx.Client, headers: dict, timeout: float = 240) -> httpx.Response:
    """The first prediction the gateway answers through the proxy after the switch.

    The gateway's healthcheck passes before its first model load, so for a few seconds it
    answers 503 "no champion loaded yet"; any other answer is returned at once.
    """
    deadline = time.monotonic() + timeout
    while True:
        answer = http.post(f"/v1/{USECASE}/predict", headers=headers, json={"record": RECORD})
        if answer.status_code != 503 or time.monotonic() > deadline:
            return answer
        time.sleep(2)


def test_gateway_keys_and_mlflow_through_the_proxy(deployed: dict) -> None:
    key = gateway_key(deployed["compose"], "predict")
    bearer = {"Authorization": f"Bearer {key}"}
    with client(deployed["ca"]) as http:
        assert http.get("/mlflow/health").status_code == 200
        anonymous = http.post(f"/v1/{USECASE}/predict", json={"record": CREDIT_ROW})
        assert anonymous.status_code == 401, anonymous.text  # keys are required in deploy mode
        assert anonymous.json()["reason"], anonymous.text
        label = http.post(f"/v1/{USECASE}/feedback", headers=bearer,
                          json={"prediction_id": "x", "label": 1})  # fmt: skip
        assert label.status_code == 403, label.text  # a predict-only key sends no feedback
        assert http.get("/metrics").headers["content-type"].startswith("text/html"), (
            "the gateway's /metrics must not be routed outside (this is Airflow's UI)"
        )
        answer = first_prediction(http, bearer)
        assert answer.status_code == 200, answer.text
        assert answer.json()["predictions"][0]["variant"] in ("champion", "challenger"), answer.text
    # the scheduler's tasks use MLflow under its prefix, as the gateway just did
    out = deployed["compose"].run(
        "exec", "-T", "airflow-scheduler", "python", "-c",
        "import json; from mlstack.registry import aliases_of; "
        f"print(json.dumps(aliases_of('{USECASE}')))",
        capture=True,
    )  # fmt: skip
    assert "champion" in json.loads(out.strip().splitlines()[-1]), out


#: run in the scheduler (MLflow account `airflow`, which may write): the champion's files,
#: one of them altered, logged in a new run, registered, and given the alias by hand
TAMPER = """
import os, mlflow
from mlstack import registry
from mlstack.settings import get_settings
s = get_settings(); mlflow.set_tracking_uri(s.mlflow_tracking_uri)
c = registry.client(s); uc = "credit_default"
old = int(c.get_registered_model(uc).aliases["champion"])
folder = mlflow.artifacts.download_artifacts(f"models:/{uc}/{old}")
with open(os.path.join(folder, "MLmodel"), "a") as f: f.write("# altered by hand\\n")
experiment = c.get_run(c.get_model_version(uc, str(old)).run_id).info.experiment_id
with mlflow.start_run(experiment_id=experiment) as run:
    mlflow.log_artifacts(folder, "tampered")
new = mlflow.register_model(f"runs:/{run.info.run_id}/tampered", uc)
c.set_registered_model_alias(uc, "champion", new.version)
print(old, new.version)
"""


def test_a_version_aliased_by_hand_with_altered_files_is_refused(deployed: dict) -> None:
    """The threat model's swap: someone with MLflow write access moves ``champion`` to a
    version with altered files. The gateway refuses it and keeps answering with the old
    champion; ``mlstack models verify`` and the monitor (``mlstack monitor run``) refuse it."""
    compose = deployed["compose"]
    scheduler = ("exec", "-T", "airflow-scheduler")
    out = compose.run(*scheduler, "python", "-c", TAMPER, capture=True)
    old, new = (int(x) for x in out.strip().splitlines()[-1].split())
    bearer = {"Authorization": f"Bearer {gateway_key(compose, 'predict')}"}
    try:
        with client(deployed["ca"]) as http:
            deadline = time.monotonic() + 60  # each replica re-reads the aliases every 10 s
            while time.monotonic() < deadline:
                answer = first_prediction(http, bearer)
                assert answer.status_code == 200, answer.text
                assert answer.json()["predictions"][0]["model_version"] == old, answer.text
                if all(f"{USECASE} v{new}" in replica_logs(c) for c in replicas(compose)):
                    break
                time.sleep(3)
        for container in replicas(compose):  # the alias move reached every replica
            refusals = [line for line in replica_logs(container).splitlines()
                        if f"{USECASE} v{new}" in line]  # fmt: skip
            assert refusals and "not loaded" in refusals[-1], (container, refusals)
        verify = subprocess.run(
            compose.command(*scheduler, "mlstack", "models", "verify", USECASE, str(new)),
            capture_output=True, text=True, env=compose.environment(),
        )  # fmt: skip
        assert verify.returncode != 0, verify.stdout
        assert "digest" in (verify.stdout + verify.stderr).lower(), verify.stderr
        # the monitor loads the champion it judges the same way, and refuses it too
        monitored = subprocess.run(
            compose.command(*scheduler, "mlstack", "monitor", "run", USECASE, "--day",
                            time.strftime("%Y-%m-%d")),
            capture_output=True, text=True, env=compose.environment(),
        )  # fmt: skip
        assert monitored.returncode != 0, monitored.stdout
        said = monitored.stdout + monitored.stderr
        assert f"v{new}" in said and "not loaded" in said, said
    finally:  # the old champion back, for the checks after this one
        compose.run(*scheduler, "python", "-c",
                    "from mlstack import registry; from mlstack.settings import get_settings; "
                    f"registry.client(get_settings()).set_registered_model_alias("
                    f"'{USECASE}', 'champion', '{old}')", capture=True)  # fmt: skip


def replicas(compose: stackctl.Compose) -> list[str]:
    """The ids of the gateway's running containers (GATEWAY_REPLICAS)."""
    return compose.run("ps", "--quiet", "gateway", capture=True).split()


def replica_logs(container: str, since: str | None = None) -> str:
    """One replica's log (its access log and messages go to stderr)."""
    args = ["docker", "logs", *(["--since", since] if since else []), container]
    done = subprocess.run(args, capture_output=True, text=True, check=True)
    return done.stdout + done.stderr


#: run in the scheduler (the owner's database login): how many of the prediction ids on
#: stdin (a JSON list) have their row in the database
COUNT_LOGGED = """
import json, sys
import sqlalchemy as sa
from mlstack import store
from mlstack.settings import get_settings
ids = json.load(sys.stdin)
p = store.predictions.c
with store.engine(get_settings(), create=False).connect() as c:
    print(c.execute(sa.select(sa.func.count()).where(p.prediction_id.in_(ids))).scalar())
"""


def test_two_gateway_replicas_behind_the_proxy(deployed: dict) -> None:
    """GATEWAY_REPLICAS=2: Caddy spreads requests over both; an entity gets the same variant
    whichever replica answers; every answered prediction is logged once across both."""
    compose = deployed["compose"]
    containers = replicas(compose)
    assert len(containers) == 2, containers
    bearer = {"Authorization": f"Bearer {gateway_key(compose, 'predict')}"}
    since = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - 1))
    variants: dict[str, set[str]] = {}
    answered: list[str] = []  # prediction ids
    with client(deployed["ca"]) as http:
        first_prediction(http, bearer)  # both replicas have loaded the champion by now
        for i in range(60):
            entity = f"e2e-replica-{i % 6}"
            body = {"record": {**RECORD, "application_id": entity}}
            answer = http.post(f"/v1/{USECASE}/predict", headers=bearer, json=body)
            if answer.status_code == 503:  # one replica still loading: not answered
                continue
            assert answer.status_code == 200, answer.text
            prediction = answer.json()["predictions"][0]
            answered.append(prediction["prediction_id"])
            variants.setdefault(entity, set()).add(prediction["variant"])
    assert len(answered) >= 50, answered
    assert all(len(v) == 1 for v in variants.values()), variants  # sticky on any replica
    time.sleep(2)  # the access logs are written every second
    served = {c: replica_logs(c, since).count(f"/v1/{USECASE}/predict 200") for c in containers}
    assert all(n >= 10 for n in served.values()), served  # round robin: both took turns
    deadline = time.monotonic() + 60  # the log writers insert in batches
    while True:
        out = compose.run("exec", "-T", "airflow-scheduler", "python", "-c", COUNT_LOGGED,
                          input=json.dumps(answered), capture=True)  # fmt: skip
        logged = int(out.strip().splitlines()[-1])
        if logged == len(answered) or time.monotonic() > deadline:
            break
        time.sleep(3)
    assert logged == len(answered), (logged, len(answered))


def test_the_gateway_has_its_own_database_role(deployed: dict) -> None:
    out = deployed["compose"].run(
        "exec", "-T", "gateway", "python", "-c",
        "import sqlalchemy as sa\nfrom mlstack import store\n"
        "from mlstack.settings import get_settings\n"
        "with store.engine(get_settings(), create=False).connect() as c:\n"
        " print(c.execute(sa.text('SELECT current_user')).scalar_one())\n"
        " try:\n  c.execute(sa.text('SELECT count(*) FROM monitoring_metrics')); print('read')\n"
        " except sa.exc.ProgrammingError as e:\n  print('refused', type(e.orig).__name__)",
        capture=True,
    )  # fmt: skip
    assert out.split()[-3:] == ["mlstack_gateway", "refused", "InsufficientPrivilege"], out


def test_the_root_credentials_stay_with_the_setup_jobs(deployed: dict) -> None:
    """Only MinIO and the jobs that make buckets and S3 accounts hold MinIO's root password;
    only Postgres and db-accounts the Postgres superuser's; every other service has its own."""
    compose = deployed["compose"]
    env = stackctl.read_env(compose.env_file)
    holders: dict[str, set[str]] = {"MINIO_ROOT_PASSWORD": set(), "POSTGRES_PASSWORD": set()}
    for name, row in compose.containers().items():
        config = json.loads(
            subprocess.run(
                ["docker", "inspect", row["ID"]], capture_output=True, text=True, check=True
            ).stdout  # fmt: skip
        )[0]["Config"]
        values = {line.split("=", 1)[1] for line in config.get("Env") or []}
        for secret, who in holders.items():
            if any(env[secret] in value for value in values):  # URLs hold passwords too
                who.add(name)
    assert holders["MINIO_ROOT_PASSWORD"] <= {"minio", "mlstack-init", "s3-accounts"}, holders
    assert holders["POSTGRES_PASSWORD"] <= {"postgres", "db-accounts"}, holders
    assert {"mlflow", "gateway", "airflow-scheduler"}.isdisjoint(set().union(*holders.values()))


def test_networks_and_privileges(deployed: dict) -> None:
    compose = deployed["compose"]
    reach = compose.run(
        "exec", "-T", "caddy", "python3", "-c",
        "import socket\ntry:\n socket.create_connection(('postgres', 5432), 3); print('reached')\n"
        "except OSError as e:\n print('refused', e)",
        capture=True,
    )  # fmt: skip
    assert reach.strip().startswith("refused"), f"the proxy reaches Postgres: {reach}"
    for name, row in compose.containers().items():
        if row.get("State") != "running":
            continue
        inspected = json.loads(
            subprocess.run(
                ["docker", "inspect", row["ID"]], capture_output=True, text=True, check=True
            ).stdout  # fmt: skip
        )[0]["HostConfig"]
        assert "no-new-privileges:true" in (inspected.get("SecurityOpt") or []), name
        assert (inspected.get("CapDrop") or []) == ["ALL"], (name, inspected.get("CapDrop"))
