"""infra/kubernetes/, offline: every manifest against the Kubernetes API schemas
(kubernetes-validate, strict: an unknown field fails), the Helm values against the official
Airflow chart's own values.schema.json (vendored), and the pieces against each other — every
Secret a pod or the chart refers to is one render_secrets.py makes, with the key it reads; one
image, one public host; the pods the Ingress reaches are the ones the network policies open."""

from __future__ import annotations

import copy
import json
import sys
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import jsonschema
import pytest
import yaml
from support import ROOT

K8S = ROOT / "infra" / "kubernetes"
sys.path.insert(0, str(K8S))
import render_secrets  # noqa: E402  (infra/kubernetes/render_secrets.py)

#: the oldest Kubernetes minor the manifests are meant for (autoscaling/v2, policy/v1, ...)
KUBERNETES_VERSION = "1.30.0"
CHART_SCHEMA = K8S / "airflow" / "chart" / "values.schema.json"
VALUES = K8S / "airflow" / "values.yaml"
CELERY_VALUES = K8S / "airflow" / "values-celery.yaml"
PROXY, EGRESS = "mlstack.io/proxy", "mlstack.io/egress"


def manifest_files() -> list[Path]:
    return sorted(
        p for d in ("manifests", "trial") for p in (K8S / d).glob("*.yaml")
        if p.name != "kustomization.yaml"
    )  # fmt: skip


def documents(path: Path) -> list[dict]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc]


def all_objects() -> list[dict]:
    return [doc for path in manifest_files() for doc in documents(path)]


def load(path: Path) -> dict:
    return yaml.safe_load(path.read_text())


def merged(base: dict, over: dict) -> dict:
    """Helm's merge of a second values file over the first (maps merge, the rest replaces)."""
    out = copy.deepcopy(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merged(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, str]]:
    """Every Secret render_secrets.py makes (trial and Celery too), by name: key -> value."""
    env_file = tmp_path_factory.mktemp("k8s") / "k8s.env"
    env = render_secrets.ensure_secrets(env_file, celery=True)
    listing = render_secrets.render(env, trial=True, celery=True)
    return {s["metadata"]["name"]: s["stringData"] for s in listing["items"]}


@pytest.fixture(scope="module")
def k8s_validate() -> Any:
    kv = pytest.importorskip(
        "kubernetes_validate",
        reason="kubernetes-validate is not installed: it is in pyproject's dev extra; "
        "re-resolve requirements.lock (make lock) and re-create the venv",
    )
    return kv


# --- Kubernetes schemas ------------------------------------------------------------------------


@pytest.mark.parametrize("path", manifest_files(), ids=lambda p: f"{p.parent.name}/{p.name}")
def test_every_manifest_is_valid_kubernetes(path: Path, k8s_validate: Any) -> None:
    docs = documents(path)
    assert docs, f"{path} holds no object"
    for doc in docs:  # SchemaNotFoundError (an unknown kind or apiVersion) fails too
        k8s_validate.validate(doc, KUBERNETES_VERSION, strict=True)


def test_the_rendered_secrets_are_valid_kubernetes(rendered, k8s_validate: Any) -> None:
    for name, data in rendered.items():
        k8s_validate.validate(render_secrets.secret(name, data), KUBERNETES_VERSION, strict=True)


def test_the_strict_validation_refuses_an_unknown_field(k8s_validate: Any) -> None:
    doc = copy.deepcopy(documents(K8S / "manifests" / "gateway.yaml")[0])
    doc["spec"]["template"]["spec"]["containers"][0]["readinesProbe"] = {"tcpSocket": {}}
    with pytest.raises(k8s_validate.ValidationError):
        k8s_validate.validate(doc, KUBERNETES_VERSION, strict=True)


@pytest.mark.parametrize("folder", ["manifests", "trial"])
def test_each_kustomization_lists_every_manifest_of_its_folder(folder: str) -> None:
    listed = load(K8S / folder / "kustomization.yaml")["resources"]
    assert sorted(listed) == sorted(p.name for p in manifest_files() if p.parent.name == folder)


# --- the chart's values ------------------------------------------------------------------------


def chart_errors(values: dict) -> list[str]:
    """What the chart's schema refuses in ``values``, plus top-level keys it does not declare
    (its root object allows any key, so a typo there would pass the schema silently)."""
    schema = json.loads(CHART_SCHEMA.read_text())
    validator = jsonschema.Draft7Validator(schema)
    errors = [
        f"{'.'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(values)
    ]
    declared = schema["properties"]
    errors += [f"{key}: not a value of the chart" for key in values if key not in declared]
    return errors


@pytest.mark.parametrize("overlay", [None, CELERY_VALUES], ids=["kubernetes", "celery"])
def test_the_values_use_only_keys_the_chart_accepts(overlay: Path | None) -> None:
    values = load(VALUES) if overlay is None else merged(load(VALUES), load(overlay))
    assert chart_errors(values) == []


def test_the_chart_check_refuses_a_misspelt_key() -> None:
    values = load(VALUES)
    assert chart_errors({**values, "apiServr": {}}) == ["apiServr: not a value of the chart"]
    values["apiServer"]["lables"] = values["apiServer"].pop("labels")
    assert any(e.startswith("apiServer:") and "lables" in e for e in chart_errors(values))


def test_the_values_pick_the_executors_and_keep_secrets_out() -> None:
    values, celery = load(VALUES), merged(load(VALUES), load(CELERY_VALUES))
    assert values["executor"] == "KubernetesExecutor" and celery["executor"] == "CeleryExecutor"
    assert values["redis"]["enabled"] is False and celery["redis"]["enabled"] is True
    assert values["postgresql"]["enabled"] is False and values["createUserJob"]["enabled"] is False
    for key in ("fernetKey", "jwtSecret", "apiSecretKey"):  # the chart's inline secrets
        assert key not in values and key not in celery
    assert "metadataConnection" not in values["data"] and "brokerUrl" not in celery["data"]
    assert values["dags"]["gitSync"]["enabled"] is False  # DAGs baked into the image


# --- the pieces against each other --------------------------------------------------------------


def pod_specs() -> list[tuple[str, dict]]:
    """(object name, pod spec) of every workload in the manifests."""
    out = []
    for obj in all_objects():
        if obj["kind"] in {"Deployment", "StatefulSet", "Job"}:
            out.append((obj["metadata"]["name"], obj["spec"]["template"]["spec"]))
    return out


def secret_references() -> list[tuple[str, str, str | None]]:
    """(who, Secret name, key or None for the whole Secret) for every reference in the
    manifests and in the chart's values (both executors)."""
    refs: list[tuple[str, str, str | None]] = []
    for name, spec in pod_specs():
        for c in spec.get("initContainers", []) + spec["containers"]:
            for src in c.get("envFrom", []):
                if "secretRef" in src:
                    refs.append((name, src["secretRef"]["name"], None))
            for var in c.get("env", []):
                ref = var.get("valueFrom", {}).get("secretKeyRef")
                if ref:
                    refs.append((name, ref["name"], ref["key"]))
        for vol in spec.get("volumes", []):
            if "secret" in vol:
                keys = [i["key"] for i in vol["secret"].get("items", [])] or [None]
                refs += [(name, vol["secret"]["secretName"], k) for k in keys]
    values = merged(load(VALUES), load(CELERY_VALUES))
    chart = "airflow chart"
    refs += [
        (chart, values["data"]["metadataSecretName"], "connection"),
        (chart, values["data"]["brokerUrlSecretName"], "connection"),
        (chart, values["data"]["resultBackendSecretName"], "connection"),
        (chart, values["fernetKeySecretName"], "fernet-key"),
        (chart, values["apiSecretKeySecretName"], "api-secret-key"),
        (chart, values["jwtSecretName"], "jwt-secret"),
        (chart, values["redis"]["passwordSecretName"], "password"),
    ]
    refs += [(chart, s["secretName"], s["secretKey"]) for s in values["secret"]]
    for src in yaml.safe_load(values["extraEnvFrom"]):
        if "secretRef" in src:
            refs.append((chart, src["secretRef"]["name"], None))
    for vol in values["apiServer"]["extraVolumes"]:
        refs += [(chart, vol["secret"]["secretName"], i["key"]) for i in vol["secret"]["items"]]
    return refs


def test_every_secret_referred_to_is_rendered_with_its_key(rendered) -> None:
    refs = secret_references()
    assert len({name for _, name, _ in refs}) >= 8  # the parser found the references
    missing = [
        (who, name, key)
        for who, name, key in refs
        if name not in rendered or (key is not None and key not in rendered[name])
    ]
    assert missing == []


def test_the_settings_given_as_environment_exist(rendered) -> None:
    """Every MLSTACK_* variable the ConfigMap and the Secrets set is a setting mlstack reads."""
    from mlstack.gateway.core.config import GatewaySettings
    from mlstack.settings import Settings

    known = {f"MLSTACK_{f.upper()}" for f in Settings.model_fields}
    known |= {f"MLSTACK_GATEWAY_{f.upper()}" for f in GatewaySettings.model_fields}
    # read by `mlstack db-accounts` and `mlstack s3-accounts` themselves (the roles' password
    # variables are named in db_access), not settings
    accounts = {
        "MLSTACK_DB_ADMIN_URL",
        "MLSTACK_GATEWAY_DB_PASSWORD",
        "MLSTACK_S3_SERVICE_ACCOUNTS",
    }
    source = "".join(
        (ROOT / "include" / "mlstack" / f).read_text() for f in ("cli/system.py", "db_access.py")
    )
    assert all(f'"{name}"' in source for name in accounts)
    known |= accounts
    config = next(o for o in all_objects() if o["metadata"]["name"] == "mlstack-config")
    # (mlstack-postgres holds the trial Postgres's init script's variables, not mlstack's)
    theirs = {"mlstack-postgres"}
    names = set(config["data"]) | {k for n, d in rendered.items() if n not in theirs for k in d}
    for _, spec in pod_specs():
        for c in spec.get("initContainers", []) + spec["containers"]:
            names |= {v["name"] for v in c.get("env", [])}
    unknown = sorted(n for n in names if n.startswith("MLSTACK_") and n not in known)
    assert unknown == []


def test_one_image_and_one_public_host() -> None:
    values = load(VALUES)
    image = load(K8S / "manifests" / "kustomization.yaml")["images"][0]
    assert (image["newName"], image["newTag"]) == (
        values["images"]["airflow"]["repository"],
        values["images"]["airflow"]["tag"],
    )
    assert {c["image"] for _, s in pod_specs() for c in s["containers"]} >= {image["name"]}
    config = next(o for o in all_objects() if o["metadata"]["name"] == "mlstack-config")["data"]
    ingress = next(o for o in all_objects() if o["kind"] == "Ingress")["spec"]
    host = config["PUBLIC_HOST"]
    assert [r["host"] for r in ingress["rules"]] == ingress["tls"][0]["hosts"] == [host]
    assert urlparse(config["MLSTACK_MLFLOW_UI_URL"]).netloc == host
    assert urlparse(values["config"]["api"]["base_url"]).netloc == host


def test_the_ingress_reaches_only_pods_the_network_policies_open_to_it() -> None:
    objects = all_objects()
    ingress = next(o for o in objects if o["kind"] == "Ingress")
    routed = {
        p["path"]: p["backend"]["service"]["name"]
        for rule in ingress["spec"]["rules"]
        for p in rule["http"]["paths"]
    }
    assert routed == {
        "/": "airflow-api-server",  # the chart's, release `airflow`
        "/mlflow": "mlflow",
        "/v1": "gateway",
        "/execution": "mlstack-not-routed",
    }
    services = {o["metadata"]["name"]: o for o in objects if o["kind"] == "Service"}
    assert "selector" not in services["mlstack-not-routed"]["spec"]  # no endpoints: 503
    pods = {
        o["metadata"]["name"]: o["spec"]["template"]["metadata"]["labels"]
        for o in objects
        if o["kind"] in {"Deployment", "StatefulSet"}
    }
    for service in ("mlflow", "gateway"):
        selector = services[service]["spec"]["selector"]
        behind = [labels for labels in pods.values() if selector.items() <= labels.items()]
        assert behind and all(labels.get(PROXY) == "true" for labels in behind), service
    values = merged(load(VALUES), load(CELERY_VALUES))
    assert values["apiServer"]["labels"][PROXY] == "true"
    proxied = {o["metadata"]["name"] for o in objects if o["kind"] == "NetworkPolicy"
               and o["spec"]["podSelector"].get("matchLabels") == {PROXY: "true"}}  # fmt: skip
    assert proxied == {"proxy"}
    # the pods with a route out: the scheduler and the task pods of either executor, no other
    assert values["scheduler"]["labels"][EGRESS] == "true"
    assert values["workers"]["kubernetes"]["labels"][EGRESS] == "true"
    assert values["workers"]["celery"]["labels"][EGRESS] == "true"
    assert not [name for name, labels in pods.items() if EGRESS in labels]


def test_database_urls_quote_passwords_and_want_tls_off_the_trial() -> None:
    env = {"MLSTACK_DB_PASSWORD": "p@ss/word", "POSTGRES_HOST": "db.example.org"}
    assert render_secrets.postgres_url(env, "mlstack") == (
        "postgresql+psycopg2://mlstack:p%40ss%2Fword@db.example.org:5432/mlstack?sslmode=require"
    )
    trial = render_secrets.postgres_url({"MLSTACK_DB_PASSWORD": "x"}, "mlstack")
    assert trial.endswith("@postgres:5432/mlstack?sslmode=disable")


def test_rendering_again_keeps_every_secret(tmp_path: Path) -> None:
    env_file = tmp_path / "k8s.env"
    first = render_secrets.render(render_secrets.ensure_secrets(env_file, celery=False))
    again = render_secrets.render(render_secrets.ensure_secrets(env_file, celery=True))
    assert again["items"][: len(first["items"])] == first["items"]
    assert (env_file.stat().st_mode & 0o777) == 0o600


def test_only_the_init_jobs_db_accounts_gets_the_postgres_admin(rendered) -> None:
    from mlstack.db_access import GATEWAY_ROLE

    assert holders("mlstack-db-admin") == [("mlstack-init", "db-accounts")]
    assert "mlstack-db-admin" not in json.dumps(load(VALUES)) + json.dumps(load(CELERY_VALUES))
    # the gateway logs in as its own role (include/mlstack/db_access.py), the rest as the owner
    assert render_secrets.GATEWAY_DB_ROLE == GATEWAY_ROLE
    gateway_url = urlparse(rendered["mlstack-gateway"]["MLSTACK_DATABASE_URL"])
    assert gateway_url.username == GATEWAY_ROLE
    assert urlparse(rendered["mlstack-backends"]["MLSTACK_DATABASE_URL"]).username == "mlstack"
    gateway = next(spec for name, spec in pod_specs() if name == "gateway")["containers"][0]
    assert [s["secretRef"]["name"] for s in gateway["envFrom"] if "secretRef" in s] == [
        "mlstack-gateway"
    ]


def holders(secret_name: str) -> list[tuple[str, str]]:
    """(workload, container) of every container that reads Secret ``secret_name``."""
    return [
        (name, c["name"])
        for name, spec in pod_specs()
        for c in spec.get("initContainers", []) + spec["containers"]
        if secret_name in json.dumps(c)
    ]


def test_each_service_has_its_own_s3_login_and_only_setup_holds_the_admins(rendered) -> None:
    from mlstack.s3_access import SERVICE_ACCOUNTS, ServiceAccount, accounts_from_env

    assert holders("mlstack-s3-admin") == [
        ("mlstack-init", "init"),
        ("mlstack-init", "s3-accounts"),
    ]
    assert "mlstack-s3-admin" not in json.dumps(load(VALUES)) + json.dumps(load(CELERY_VALUES))
    admin = rendered["mlstack-s3-admin"]
    # what `mlstack s3-accounts` makes from this Secret is what the services log in with
    made = {a.name: a for a in accounts_from_env(admin)}
    assert set(render_secrets.S3_ACCOUNTS) == set(SERVICE_ACCOUNTS) == set(made)
    logins = {
        "mlstack": (rendered["mlstack-backends"]["MLSTACK_S3_ACCESS_KEY_ID"],
                    rendered["mlstack-backends"]["MLSTACK_S3_SECRET_ACCESS_KEY"]),
        "gateway": (rendered["mlstack-gateway"]["MLSTACK_S3_ACCESS_KEY_ID"],
                    rendered["mlstack-gateway"]["MLSTACK_S3_SECRET_ACCESS_KEY"]),
        "mlflow": (rendered["mlstack-mlflow"]["AWS_ACCESS_KEY_ID"],
                   rendered["mlstack-mlflow"]["AWS_SECRET_ACCESS_KEY"]),
    }  # fmt: skip
    account: ServiceAccount
    for name, account in made.items():
        assert logins[name] == (account.access_key, account.secret)
    assert admin["MLSTACK_S3_ACCESS_KEY_ID"] not in {key for key, _ in logins.values()}
    assert admin["MLSTACK_S3_SERVICE_ACCOUNTS"] == "minio"


def test_an_s3_without_minios_admin_api_gives_every_service_the_given_keys(tmp_path) -> None:
    env = render_secrets.ensure_secrets(tmp_path / "k8s.env", celery=False)
    env |= {
        "S3_SERVICE_ACCOUNTS": "external",
        "S3_ACCESS_KEY_ID": "AKIA1",
        "S3_SECRET_ACCESS_KEY": "s",
    }
    secrets = {s["metadata"]["name"]: s["stringData"] for s in render_secrets.render(env)["items"]}
    assert secrets["mlstack-s3-admin"]["MLSTACK_S3_SERVICE_ACCOUNTS"] == "external"
    for name in ("mlstack-backends", "mlstack-gateway", "mlstack-s3-admin"):
        assert secrets[name]["MLSTACK_S3_ACCESS_KEY_ID"] == "AKIA1"
    assert secrets["mlstack-mlflow"]["AWS_ACCESS_KEY_ID"] == "AKIA1"
