"""The e2e stack switched to deploy mode, as `make deploy` does, with the scale profile on:
Caddy in front (its own CA), two gateway replicas, Airflow's CeleryExecutor with two workers
and Flower (at /flower/, behind the proxy's admin login).

The session fixture ``deployed`` (conftest.py) calls :func:`switch_to_deploy_mode` once, after
the laptop-mode tests; test_stack_then_deployed.py and test_stack_then_deployed_on_celery.py
check the result. Re-using the stack keeps CI to one bring-up: the switch recreates the
containers whose configuration changed (most of them), on the same volumes.
"""

from __future__ import annotations

import json
import os
import ssl
import subprocess
from pathlib import Path

import boto3
import httpx
from e2e_stack import PORTS, SPEC_OVERRIDES, Stack, stackctl, start_services

#: the address clients use (Caddy's own CA signs its certificate) and the proxy binds 80 and
#: 443 to; another loopback address (127.0.0.2) lets a second e2e run beside the first
HOST = os.environ.get("MLSTACK_E2E_DEPLOY_HOST", "127.0.0.1")
BASE = f"https://{HOST}"
#: the scale profile's workers in the e2e, and how long a dead worker's task waits before the
#: scheduler fails it for a retry (300 s by default; test_stack_then_deployed_on_celery.py
#: kills a worker mid-task)
CELERY_WORKERS = 2
HEARTBEAT_TIMEOUT_S = 45
#: credit_default's training on the `training` queue (the workers consume it beside
#: `default`), retried 5 s after a failure instead of a minute
CELERY_SPEC_OVERRIDES = {
    name: {**sections, "stages": {"train": {"queue": "training", "retry_delay": "PT5S"}}}
    if name == "credit_default"
    else sections
    for name, sections in SPEC_OVERRIDES.items()
}

#: what the S3 stand-in must still have after the switch: the model artifacts (the gateway
#: serves them) and the lake, whose Iceberg metadata and data files the catalog in Postgres
#: points to (the Celery file's training and ingest read and append to those tables)
SAVED_BUCKETS = ("mlflow", "lake")

#: run in the project image on the backend network: the saved objects back into the S3 API
PUT_BACK = """
import os, sys, boto3
s3 = boto3.client("s3", endpoint_url="http://minio:9000", region_name="us-east-1",
                  aws_access_key_id="stand-in", aws_secret_access_key="stand-in")
root = sys.argv[1]
for folder, _, files in os.walk(root):
    for name in files:
        path = os.path.join(folder, name)
        bucket, key = os.path.relpath(path, root).split(os.sep, 1)
        s3.upload_file(path, bucket, key)
print("put back", sum(len(f) for _, _, f in os.walk(root)))
"""


def stand_in_s3() -> bool:
    """The S3 API is the CI stand-in (moto): it keeps objects in memory, not on its volume."""
    return os.environ.get("MINIO_IMAGE", "").startswith("standin/")


def save_buckets(compose: stackctl.Compose, dest: Path) -> None:
    """Copy :data:`SAVED_BUCKETS` out through the laptop stack's published S3 port."""
    env = stackctl.read_env(compose.env_file)
    s3 = boto3.client(
        "s3", endpoint_url=f"http://127.0.0.1:{PORTS['MINIO_PORT']}", region_name="us-east-1",
        aws_access_key_id=env.get("MINIO_ROOT_USER", "mlstack"),
        aws_secret_access_key=env["MINIO_ROOT_PASSWORD"],
    )  # fmt: skip
    for bucket in SAVED_BUCKETS:
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
            for item in page.get("Contents", []):
                if item["Key"].endswith("/"):
                    continue  # a folder marker (the lake's writers make them); not a file
                path = dest / bucket / item["Key"]
                path.parent.mkdir(parents=True, exist_ok=True)
                s3.download_file(bucket, item["Key"], str(path))


def put_back_buckets(compose: stackctl.Compose, saved: Path) -> None:
    """Upload what :func:`save_buckets` copied, from a container on the backend network."""
    image = compose.project_image()
    saved.chmod(0o755)
    for path in saved.rglob("*"):
        path.chmod(0o755 if path.is_dir() else 0o644)
    subprocess.run(
        ["docker", "run", "--rm", "-i", "--network", f"{compose.project}_backend",
         "-v", f"{saved}:/saved:ro", image, "python", "-", "/saved"],
        input=PUT_BACK, check=True, capture_output=True, text=True,
    )  # fmt: skip


def switch_to_deploy_mode(stack: Stack, scratch: Path) -> stackctl.Compose:
    """Write deploy mode's settings into the stack's env file, turn Flower and so the scale
    profile on (`make deploy PROFILES=...,flower WORKERS=2`) and bring the stack up again.

    The switch re-creates the MinIO container. A real MinIO keeps its objects on its volume;
    the CI's stand-in keeps them in memory, so with it both buckets are copied out before
    and put back after (:data:`SAVED_BUCKETS`).
    """
    compose = stack.compose
    if stand_in_s3():
        save_buckets(compose, scratch)
    settings = stackctl.deploy_settings(host=HOST)
    # the S3 stand-in (moto) has no MinIO admin API and accepts any key: the per-service
    # keys are used by the services but not made (tests/unit/test_s3_access.py checks them)
    external = {"MLSTACK_S3_SERVICE_ACCOUNTS": "external"}
    # two gateway replicas behind Caddy, one worker each (test_two_gateway_replicas_...)
    replicas = {"GATEWAY_REPLICAS": "2", "GATEWAY_WORKERS": "1"}
    celery = {
        "WORKERS": str(CELERY_WORKERS),
        "AIRFLOW_TASK_HEARTBEAT_TIMEOUT": str(HEARTBEAT_TIMEOUT_S),
        # one task per worker at a time: tasks running side by side land on both workers
        "AIRFLOW_WORKER_CONCURRENCY": "1",
    }
    stackctl.set_env(
        compose.env_file, {**settings, **external, **replicas, **celery, "DEPLOY_BIND": HOST}
    )
    # the session's profiles (the env file's COMPOSE_PROFILES is overridden by extra_env)
    profiles = compose.extra_env.get("COMPOSE_PROFILES", "")
    compose.extra_env["COMPOSE_PROFILES"] = ",".join(p for p in (profiles, "flower") if p)
    compose.extra_env["MLSTACK_SPEC_OVERRIDES"] = json.dumps(CELERY_SPEC_OVERRIDES)
    assert compose.deployed(), "MLSTACK_DEPLOY=1 in the env file must add the deploy overlay"
    assert compose.executor() == "CeleryExecutor", compose.profiles()
    stackctl.say("e2e: switching the stack to deploy mode (docker-compose.deploy.yml), scale on")
    start_services(compose)
    elapsed = stackctl.wait_healthy(compose, timeout=600)
    stackctl.say(f"e2e: deploy mode ready after {elapsed:.0f}s")
    if stand_in_s3():
        put_back_buckets(compose, scratch)
    return compose


def client(ca: Path, **kwargs) -> httpx.Client:
    return httpx.Client(base_url=BASE, verify=ssl.create_default_context(cafile=str(ca)),
                        timeout=30, **kwargs)  # fmt: skip


def past_admin_login(deployed: dict, path: str) -> httpx.Response:
    """``path`` behind the proxy's admin login (``admin`` / MLSTACK_ADMIN_PASSWORD):
    anonymous and wrong-password requests must get 401; returns the answer to the right
    login, i.e. what is behind the proxy."""
    password = stackctl.read_env(deployed["compose"].env_file)["MLSTACK_ADMIN_PASSWORD"]
    with client(deployed["ca"]) as http:
        assert http.get(path).status_code == 401, f"{path} without a login"
        assert http.get(path, auth=("admin", "wrong")).status_code == 401, path
        return http.get(path, auth=("admin", password))
