"""The scale profile (Airflow's CeleryExecutor) in infra/stack.py and the compose files,
without Docker: which executor and queues each profile gets, what the workers, the broker
and Flower are given in both modes, and how a second machine's workers are wired
(docker-compose.remote-workers.yml on the first, docker-compose.worker.yml on the second)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import yaml
from support import ROOT, compose_file

sys.path.insert(0, str(ROOT / "infra"))
import stack  # noqa: E402  (infra/stack.py)

BASE = compose_file("docker-compose.yml")
DEPLOY = compose_file("docker-compose.deploy.yml")


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("COMPOSE_PROFILES", "MLSTACK_SPEC_OVERRIDES", "MLSTACK_DEPLOY", "WORKER_BIND",
                 "MLSTACK_PRIMARY_ADDRESS", "AIRFLOW_TRIGGERER"):  # fmt: skip
        monkeypatch.delenv(name, raising=False)


def _usecase(folder: Path, name: str, stages: dict | None = None) -> None:
    (folder / name).mkdir(parents=True)
    spec = {"name": name, **({"stages": stages} if stages else {})}
    (folder / name / "usecase.yaml").write_text(yaml.safe_dump(spec))


def test_workers_consume_default_and_every_queue_a_spec_names(tmp_path: Path) -> None:
    assert stack.worker_queues() == ["default"]  # the shipped use cases name no queue
    _usecase(tmp_path, "loans", {"train": {"queue": "training"}, "ingest": {"retries": 3}})
    _usecase(tmp_path, "churn", {"monitor": {"queue": "default"}})
    assert stack.worker_queues(usecases_dir=tmp_path) == ["default", "training"]
    overrides = '{"churn": {"stages": {"ingest": {"queue": "io"}}}}'  # MLSTACK_SPEC_OVERRIDES
    assert stack.worker_queues(overrides, usecases_dir=tmp_path) == ["default", "io", "training"]
    moved = "{loans: {stages: {train: {queue: gpu}}}}"  # YAML; replaces the spec's queue
    assert stack.worker_queues(moved, usecases_dir=tmp_path) == ["default", "gpu"]


@pytest.mark.parametrize(
    ("profiles", "executor", "active"),
    [
        ("", "LocalExecutor", set()),
        ("metrics", "LocalExecutor", {"metrics"}),
        ("scale", "CeleryExecutor", {"scale"}),
        ("flower", "CeleryExecutor", {"flower", "scale"}),  # Flower brings the broker
    ],
)
def test_the_scale_profile_switches_airflow_to_celery(
    tmp_path: Path, profiles: str, executor: str, active: set[str]
) -> None:
    compose = stack.Compose("p", tmp_path / "missing.env", extra_env={"COMPOSE_PROFILES": profiles})
    env = compose.environment()
    assert env["MLSTACK_AIRFLOW_EXECUTOR"] == executor
    assert set(filter(None, env["COMPOSE_PROFILES"].split(","))) == active
    assert ("AIRFLOW_WORKER_QUEUES" in env) is ("scale" in active)


def test_the_spec_overrides_queues_reach_the_workers(tmp_path: Path) -> None:
    overrides = '{"credit_default": {"stages": {"train": {"queue": "training"}}}}'
    compose = stack.Compose(
        "p", tmp_path / "x.env", extra_env={"COMPOSE_PROFILES": "scale",
                                            "MLSTACK_SPEC_OVERRIDES": overrides}
    )  # fmt: skip
    assert compose.environment()["AIRFLOW_WORKER_QUEUES"] == "default,training"


def test_every_airflow_component_gets_the_executor_and_the_broker() -> None:
    env = BASE["x-airflow-common"]["environment"]
    assert env["AIRFLOW__CORE__EXECUTOR"] == "${MLSTACK_AIRFLOW_EXECUTOR:-LocalExecutor}"
    assert env["AIRFLOW__CELERY__BROKER_URL"].startswith("redis://:${REDIS_PASSWORD:?")
    assert env["AIRFLOW__CELERY__BROKER_URL"].endswith("@redis:6379/0")
    # the results in Airflow's own Postgres database, as its user
    assert env["AIRFLOW__CELERY__RESULT_BACKEND"].startswith("db+postgresql://airflow:")
    assert env["AIRFLOW__CELERY__RESULT_BACKEND"].endswith("@postgres:5432/airflow")
    assert "REDIS_PASSWORD" in stack.SECRETS


def test_the_workers_run_tasks_as_the_scheduler_would() -> None:
    """The worker is an Airflow component like the others (same environment: the execution
    API's URL, the JWT secret its tasks' tokens are signed with), on the computed queues,
    WORKERS times; the broker is Redis by variable, never published in stack mode."""
    worker, redis = BASE["services"]["airflow-worker"], BASE["services"]["redis"]
    assert worker["profiles"] == ["scale"] and redis["profiles"] == ["scale"]
    assert worker["environment"] == BASE["services"]["airflow-scheduler"]["environment"]
    assert worker["environment"]["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"].startswith(
        "http://airflow-apiserver:8080/"
    )
    assert worker["environment"]["AIRFLOW__API_AUTH__JWT_SECRET"].startswith(
        "${AIRFLOW_JWT_SECRET:?"
    )
    assert worker["command"][:3] == ["airflow", "celery", "worker"]
    assert "${AIRFLOW_WORKER_QUEUES:-default}" in worker["command"]
    assert worker["deploy"]["replicas"] == "${WORKERS:-2}"
    assert worker["healthcheck"]["test"][-2:] == ["celery", "ping"]
    assert redis["image"] == "${REDIS_IMAGE:-redis:7}"
    assert "ports" not in redis
    assert "$$REDIS_PASSWORD" in redis["command"][-1]  # from its environment, not the file
    flower = BASE["services"]["flower"]
    assert flower["profiles"] == ["flower"]
    assert flower["ports"] == ["127.0.0.1:${FLOWER_PORT:-5555}:5555"]


def test_in_deploy_mode_the_workers_are_hardened_task_runners() -> None:
    """Deploy mode: the workers get what the scheduler's tasks get (MLflow login, backup
    settings and volume, the egress network), Redis stays on the backend network, Flower is
    reachable only through the proxy, behind its admin login."""
    services = DEPLOY["services"]
    worker, scheduler = services["airflow-worker"], services["airflow-scheduler"]
    for key in ("environment", "volumes", "networks", "depends_on"):
        assert worker[key] == scheduler[key], key
    assert worker["environment"]["MLFLOW_TRACKING_USERNAME"] == "airflow"
    assert worker["deploy"]["replicas"] == "${WORKERS:-2}"
    assert services["redis"]["networks"] == ["backend"]
    assert services["redis"].get("read_only") is True
    flower = services["flower"]
    assert flower["ports"] == [] and "proxy" in flower["networks"]
    assert "/flower" in flower["command"]
    caddy = (ROOT / "infra" / "caddy" / "Caddyfile").read_text()
    route = caddy[caddy.index("handle /flower/*") :].split("\n\t}\n", 1)[0]
    assert "basicauth" in route and "reverse_proxy flower:5555" in route


def test_remote_worker_overlays_follow_their_settings(tmp_path: Path) -> None:
    env = tmp_path / ".env"
    env.write_text("WORKER_BIND=10.0.0.5\n")
    compose = stack.Compose("p", env)
    assert compose.files() == [stack.COMPOSE_FILE]  # stack mode: nothing published for workers
    stack.set_env(env, stack.deploy_settings(host="10.1.2.3"))
    assert compose.files() == [stack.COMPOSE_FILE, stack.DEPLOY_FILE, stack.REMOTE_WORKERS_FILE]
    stack.set_env(env, {"MLSTACK_PRIMARY_ADDRESS": "10.0.0.5"})  # `make worker` on machine 2
    assert compose.files() == [stack.COMPOSE_FILE, stack.DEPLOY_FILE, stack.WORKER_FILE]
    assert compose.remote_worker()


def test_the_first_machine_publishes_what_workers_need_on_worker_bind_only() -> None:
    services = compose_file("docker-compose.remote-workers.yml")["services"]
    published = {
        name: [port.rsplit(":", 2) for port in service["ports"]]
        for name, service in services.items()
    }
    assert {name: int(p[0][2]) for name, p in published.items()} == {
        "postgres": 5432, "redis": 6379, "minio": 9000, "mlflow": 5000, "airflow-apiserver": 8080,
    }  # fmt: skip
    for name, ports in published.items():
        assert len(ports) == 1 and ports[0][0].startswith("${WORKER_BIND:?"), name
        assert "workers" in services[name]["networks"], name


def test_the_second_machines_worker_reaches_the_first_by_the_services_names() -> None:
    worker = compose_file("docker-compose.worker.yml")["services"]["airflow-worker"]
    hosts = worker["extra_hosts"]
    assert set(hosts) == {"postgres", "redis", "minio", "mlflow", "airflow-apiserver"}
    assert len(set(hosts.values())) == 1
    assert next(iter(hosts.values())).startswith("${MLSTACK_PRIMARY_ADDRESS:?")
    assert worker["depends_on"] == {}
    assert stack.WORKER_SERVICES == ("airflow-worker",)


def test_make_worker_needs_the_first_machines_deploy_env(tmp_path: Path) -> None:
    env = tmp_path / ".env"
    with pytest.raises(SystemExit, match="first machine's .env"):
        stack.join_as_worker(stack.Compose("p", env), "10.0.0.5")
    stack.ensure_env(env, project=None)
    with pytest.raises(SystemExit, match="WORKER_BIND"):
        stack.join_as_worker(stack.Compose("p", env), "10.0.0.5")
    assert "MLSTACK_PRIMARY_ADDRESS" not in stack.read_env(env)


def test_workers_setting_is_written_and_checked(tmp_path: Path) -> None:
    env = tmp_path / ".env"
    assert stack.main(["--env-file", str(env), "workers", "4"]) == 0
    assert stack.read_env(env)["WORKERS"] == "4"
    with pytest.raises(SystemExit, match="at least 1"):
        stack.main(["--env-file", str(env), "workers", "0"])
