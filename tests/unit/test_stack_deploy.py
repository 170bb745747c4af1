"""Deploy mode's settings and the env file that holds them (infra/stack.py, without Docker):
the file is private before a secret is written, `make deploy` settings replace their old
values, and the deploy overlay is added exactly when MLSTACK_DEPLOY=1."""

from __future__ import annotations

import stat
import sys
from pathlib import Path

import yaml
from support import ROOT, compose_file

sys.path.insert(0, str(ROOT / "infra"))
import stack  # noqa: E402  (infra/stack.py)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_a_new_env_file_is_private_from_its_first_byte(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(stack, "_volume_exists", lambda name: False)
    seen: list[int] = []
    real_fdopen = stack.os.fdopen

    def fdopen(fd: int, *args, **kwargs):  # the mode the file has when writing starts
        seen.append(stat.S_IMODE(stack.os.fstat(fd).st_mode))
        return real_fdopen(fd, *args, **kwargs)

    monkeypatch.setattr(stack.os, "fdopen", fdopen)
    env = tmp_path / ".env"
    written = stack.ensure_env(env)
    assert set(written) == set(stack.SECRETS)
    assert seen == [0o600] and mode(env) == 0o600


def test_an_existing_readable_env_file_is_fixed_before_secrets_are_added(
    tmp_path: Path, monkeypatch
) -> None:
    monkeypatch.setattr(stack, "_volume_exists", lambda name: False)
    env = tmp_path / ".env"
    env.write_text("AIRFLOW_PORT=8081\n")
    env.chmod(0o644)
    stack.ensure_env(env)
    assert mode(env) == 0o600
    assert stack.read_env(env)["AIRFLOW_PORT"] == "8081"


def test_deploy_settings_replace_their_old_values(tmp_path: Path) -> None:
    env = tmp_path / ".env"
    env.write_text("# keep me\nAIRFLOW_PORT=8081\nMLSTACK_SITE=old.example.org\n")
    stack.set_env(env, stack.deploy_settings("ml.example.org"))
    values = stack.read_env(env)
    assert values["MLSTACK_SITE"] == "ml.example.org"
    assert values["MLSTACK_PUBLIC_URL"] == "https://ml.example.org"
    assert values["MLSTACK_CADDY_GLOBAL"] == ""  # a domain: Let's Encrypt, not Caddy's CA
    assert values["AIRFLOW_PORT"] == "8081" and env.read_text().startswith("# keep me\n")
    assert env.read_text().count("MLSTACK_SITE=") == 1 and mode(env) == 0o600


def test_without_a_domain_caddy_serves_the_vm_address_with_its_own_ca() -> None:
    settings = stack.deploy_settings(host="10.1.2.3")
    # no 127.0.0.1: a client connecting by address sends no server name, so it would get
    # the default name's certificate anyway (on the VM itself: https://localhost)
    assert settings["MLSTACK_SITE"] == "10.1.2.3, localhost"
    assert settings["MLSTACK_PUBLIC_URL"] == "https://10.1.2.3"
    assert settings["MLSTACK_DEFAULT_SNI"] == "10.1.2.3"  # IP clients send no server name
    assert settings["MLSTACK_CADDY_GLOBAL"] == "local_certs"


def test_without_a_route_out_the_site_is_the_loopback_address(monkeypatch) -> None:
    monkeypatch.setattr(stack, "route_address", lambda: None)
    settings = stack.deploy_settings()
    assert settings["MLSTACK_SITE"] == "127.0.0.1, localhost"
    assert settings["MLSTACK_DEFAULT_SNI"] == "127.0.0.1"
    assert stack.deploy_settings(host="localhost")["MLSTACK_SITE"] == "localhost"


def test_the_deployed_urls_name_where_each_command_runs_and_only_running_services(
    monkeypatch,
) -> None:
    monkeypatch.delenv("COMPOSE_PROFILES", raising=False)
    env = {**stack.deploy_settings(host="10.1.2.3"), "COMPOSE_PROFILES": "metrics"}
    text = stack.deployed_urls(env)
    # keys are made with the owner's database login (the gateway's may only read them)
    assert "exec airflow-scheduler mlstack gateway keys create" in text
    assert "exec airflow-apiserver mlstack users add" in text
    assert "MLSTACK_ADMIN_PASSWORD" in text.split("/minio/")[1].splitlines()[0]
    assert "/grafana/" not in text and "/flower/" not in text  # `metrics`: no Grafana
    assert "/grafana/" in stack.deployed_urls({**env, "COMPOSE_PROFILES": ""})  # the default
    assert "/flower/" in stack.deployed_urls({**env, "COMPOSE_PROFILES": "metrics,flower"})
    assert "curl --cacert mlstack-ca.crt" in text


def test_the_deploy_overlay_follows_mlstack_deploy(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.delenv("MLSTACK_DEPLOY", raising=False)
    env = tmp_path / ".env"
    env.write_text("AIRFLOW_PORT=8081\n")
    compose = stack.Compose("p", env)
    assert str(stack.DEPLOY_FILE) not in compose.command("ps")
    stack.set_env(env, stack.deploy_settings(host="10.1.2.3"))
    assert compose.command("ps")[:6] == [
        "docker", "compose", "-f", str(stack.COMPOSE_FILE), "-f", str(stack.DEPLOY_FILE)
    ]  # fmt: skip


def test_in_the_overlay_only_the_proxy_publishes_and_every_service_is_hardened() -> None:
    base = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]
    overlay = compose_file("docker-compose.deploy.yml")["services"]
    assert set(base) <= set(overlay), "every service needs its deploy-mode settings"
    for name, service in overlay.items():
        assert service.get("cap_drop") == ["ALL"], name
        assert "no-new-privileges:true" in service.get("security_opt", []), name
        published = base.get(name, {}).get("ports") and service.get("ports") != []
        assert name == "caddy" or not published, f"{name} is still published"
    assert overlay["postgres"]["networks"] == ["backend"]


def test_only_the_db_accounts_job_gets_the_postgres_superuser_password() -> None:
    def holders(services: dict) -> set[str]:
        env = {
            name: yaml.safe_dump(service.get("environment", {}))
            for name, service in services.items()
        }
        return {name for name, text in env.items() if "POSTGRES_PASSWORD" in text}

    base = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]
    overlay = compose_file("docker-compose.deploy.yml")["services"]
    # db-accounts: Grafana's read-only role (observability profile), the gateway's (deploy)
    assert holders(base) == {"postgres", "db-accounts"} and holders(overlay) == set()
    url = overlay["gateway"]["environment"]["MLSTACK_DATABASE_URL"]
    assert url.startswith("postgresql+psycopg2://mlstack_gateway:"), url
    assert "db-accounts" in overlay["gateway"]["depends_on"]


def test_in_the_overlay_airflow_has_fab_logins_and_the_laptop_its_simple_admin() -> None:
    """Every Airflow component of deploy mode runs FAB's auth manager (one component on
    another manager would refuse the others' tokens), airflow-init syncs the roles and admin
    account; the laptop stack keeps the simple auth manager."""
    base = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]
    overlay = compose_file("docker-compose.deploy.yml")["services"]
    airflow = [n for n, s in base.items() if n.startswith("airflow-")]
    assert {"airflow-init", "airflow-apiserver", "airflow-scheduler"} <= set(airflow)
    for name in airflow:
        manager = overlay[name]["environment"]["AIRFLOW__CORE__AUTH_MANAGER"]
        assert manager.endswith("fab_auth_manager.FabAuthManager"), name
        assert "AIRFLOW__CORE__AUTH_MANAGER" not in (base[name].get("environment") or {}), name
    assert "mlstack users sync" in overlay["airflow-init"]["command"][-1]
    assert "AIRFLOW__CORE__AUTH_MANAGER" not in overlay["gateway"]["environment"]


def test_every_gateway_setting_the_overlay_passes_is_one_the_gateway_reads() -> None:
    """A misspelt ``MLSTACK_GATEWAY_*`` variable would be ignored without a word."""
    from mlstack.gateway.core.config import GatewaySettings

    overlay = compose_file("docker-compose.deploy.yml")["services"]
    prefix = "MLSTACK_GATEWAY_"
    passed = {
        name.removeprefix(prefix).lower()
        for name in overlay["gateway"]["environment"]
        if name.startswith(prefix) and not name.startswith(f"{prefix}DB_")
    }
    assert {"key_rate_per_s", "key_burst", "workers"} <= passed
    assert passed <= set(GatewaySettings.model_fields), passed - set(GatewaySettings.model_fields)


def test_the_e2e_deploy_switch_keeps_every_bucket_the_stack_makes() -> None:
    """The e2e's switch to deploy mode re-creates the S3 container; the CI's stand-in keeps
    objects in memory, so tests/e2e/deploy_mode.py copies the buckets out and back. Every
    bucket mlstack-init makes must be among them: without the lake, the Iceberg catalog in
    Postgres points to metadata files that are gone, and training on the Celery workers
    failed after the switch."""
    sys.path.insert(0, str(ROOT / "tests" / "e2e"))
    from deploy_mode import SAVED_BUCKETS  # tests/e2e/deploy_mode.py

    init = compose_file("docker-compose.yml")["services"]["mlstack-init"]
    command = init["command"]
    extra = [command[i + 1] for i, arg in enumerate(command) if arg == "--extra-bucket"]
    lake = init["environment"]["MLSTACK_LAKE_URL"].removeprefix("s3://").split("/")[0]
    assert sorted(SAVED_BUCKETS) == sorted({lake, *extra})


def test_plain_docker_compose_sees_the_deploy_overlay(tmp_path: Path, monkeypatch) -> None:
    """`make up`/`deploy` write COMPOSE_FILE, so the README's `docker compose run --rm
    mlflow-accounts ...` (a service of the overlay only) works in deploy mode."""
    for name in ("MLSTACK_DEPLOY", "MLSTACK_PRIMARY_ADDRESS", "WORKER_BIND", "COMPOSE_FILE"):
        monkeypatch.delenv(name, raising=False)
    env = tmp_path / ".env"
    env.write_text("AIRFLOW_PORT=8081\n")
    compose = stack.Compose("p", env)
    compose.remember_files()
    assert stack.read_env(env)["COMPOSE_FILE"] == "docker-compose.yml"
    stack.set_env(env, stack.deploy_settings(host="10.1.2.3"))
    compose.remember_files()
    assert stack.read_env(env)["COMPOSE_FILE"] == "docker-compose.yml:docker-compose.deploy.yml"
    stack.set_env(env, {"WORKER_BIND": "10.0.0.5"})
    compose.remember_files()
    assert stack.read_env(env)["COMPOSE_FILE"].endswith(":docker-compose.remote-workers.yml")
    stack.set_env(env, {"MLSTACK_DEPLOY": "0"})  # back to the laptop layout
    compose.remember_files()
    assert stack.read_env(env)["COMPOSE_FILE"] == "docker-compose.yml"
    assert env.read_text().count("COMPOSE_FILE=") == 1 and mode(env) == 0o600
    # every file named is one compose can open from the project folder
    for name in stack.read_env(env)["COMPOSE_FILE"].split(":"):
        assert (ROOT / name).is_file()


def test_logins_behind_the_proxy_set_https_only_cookies() -> None:
    """Airflow's api-server takes the scheme from Caddy's X-Forwarded-Proto (its login sets
    the token cookie Secure only on a request it sees as https; the deploy e2e signs in and
    checks the cookies); FAB's session cookie and Grafana's are Secure by setting."""
    overlay = compose_file("docker-compose.deploy.yml")["services"]
    api = overlay["airflow-apiserver"]
    assert api["command"] == ["airflow", "api-server", "--proxy-headers"]
    assert api["environment"]["FORWARDED_ALLOW_IPS"] == "*"
    assert api["environment"]["AIRFLOW__FAB__COOKIE_SECURE"] == "true"
    assert overlay["grafana"]["environment"]["GF_SECURITY_COOKIE_SECURE"] == "true"
