"""Airflow's CeleryExecutor (the scale profile) on the deployed e2e stack: after
test_stack_then_deployed.py (files run in name order) on the same switch (the session
fixture ``deployed``: deploy mode, profile scale, two airflow-worker containers, one task
slot each, credit_default's training routed to the ``training`` queue).

- Flower answers at /flower/ behind the proxy's admin login;
- a lifecycle run completes on Celery: ``credit_default__train``, and an ingest run triggered
  while training runs; every task ran on a worker (its hostname is a worker container's, not
  the scheduler's), training on the ``training`` queue, and the ingest's tasks that started
  while training ran went to the other worker (so both workers ran tasks);
- a worker killed (``docker kill``) while it runs training: the scheduler fails the task once
  its heartbeat is missing (AIRFLOW_TASK_HEARTBEAT_TIMEOUT, 45 s here), retries it, and the
  other worker finishes it. The killed container stays down (the session ends here).
"""

from __future__ import annotations

import json
import subprocess
import time
from datetime import datetime
from typing import Any

import pytest
from airflow_api import AirflowAPI
from deploy_mode import BASE, CELERY_WORKERS, past_admin_login
from e2e_stack import stackctl

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(1200)]

USECASE = "credit_default"
TRAIN, INGEST = f"{USECASE}__train", f"{USECASE}__ingest"
#: a feature day the lifecycle test did not ingest (it ingests January and its labels)
NEW_DAY = "2026-03-02"
RUN_TIMEOUT = 600.0


def worker_hostnames(compose: stackctl.Compose) -> dict[str, str]:
    """The running airflow-worker containers: hostname (what Airflow records) -> id."""
    ids = compose.run("ps", "--quiet", "--status", "running", "airflow-worker", capture=True)
    found = {}
    for container in ids.split():
        out = subprocess.run(
            ["docker", "inspect", "--format", "{{.Config.Hostname}}", container],
            capture_output=True, text=True, check=True,
        )  # fmt: skip
        found[out.stdout.strip()] = container
    return found


@pytest.fixture(scope="module")
def api(deployed: dict) -> AirflowAPI:
    return AirflowAPI(BASE, "admin", deployed["password"], verify=str(deployed["ca"]))


def tries(api: AirflowAPI, run: dict[str, Any], task_id: str) -> list[dict[str, Any]]:
    """Every try of one task instance, oldest first (hostname, state, queue of each)."""
    path = f"/dags/{run['dag_id']}/dagRuns/{run['dag_run_id']}/taskInstances/{task_id}/tries"
    return sorted(api.get(path)["task_instances"], key=lambda t: t["try_number"])


def what_happened(compose: stackctl.Compose, api: AirflowAPI, history: list[dict]) -> str:
    """Why a run failed, for the assertion's message: every try of the task (state, worker,
    times) with its log's last lines, and what the scheduler logged about the task."""
    parts = []
    for ti in history:
        head = {k: ti.get(k) for k in ("try_number", "state", "hostname", "start_date",
                                         "end_date", "queue")}  # fmt: skip
        log = api.task_log(ti).splitlines()[-40:]
        parts.append(f"try {json.dumps(head)}\n  " + "\n  ".join(log))
    scheduler = compose.run("logs", "--no-color", "--since", "15m", "airflow-scheduler",
                            capture=True, check=False)  # fmt: skip
    about = [line for line in scheduler.splitlines() if TRAIN in line][-30:]
    return "\n".join([*parts, "scheduler:", *about])


def test_the_stack_runs_celery_workers(deployed: dict) -> None:
    compose = deployed["compose"]
    assert compose.executor() == "CeleryExecutor"
    assert len(worker_hostnames(compose)) == CELERY_WORKERS
    scheduler = compose.run("exec", "-T", "airflow-scheduler", "printenv",
                            "AIRFLOW__CORE__EXECUTOR", capture=True)  # fmt: skip
    assert scheduler.strip() == "CeleryExecutor", scheduler


def test_flower_is_behind_the_proxys_admin_login(deployed: dict) -> None:
    page = past_admin_login(deployed, "/flower/")
    assert page.status_code == 200 and "Flower" in page.text, page.text[:500]


def test_a_lifecycle_run_completes_on_both_celery_workers(deployed: dict, api: AirflowAPI) -> None:
    """Training runs on the ``training`` queue; while its worker's one slot is taken, the
    ingest's tasks go to the other worker. Overlap is what proves the spread: a run whose
    tasks did not overlap (training ended before the ingest started, e.g. because the other
    worker was busy with a scheduled task) may rightly use one worker, so it is tried again.
    Every try of training counts: an ingest task may not run beside any of them on its
    worker. A training that needed its retry passes (the retry is the DAG's answer to a
    transient failure) but its tries' logs are printed, so a pattern shows in CI's log."""
    started = time.monotonic()
    compose = deployed["compose"]
    workers = worker_hostnames(compose)
    attempts = []
    for _ in range(3):
        hosts, overlapped = train_beside_ingest(compose, api, workers)
        attempts.append(hosts)
        if overlapped:
            break
    assert overlapped, f"training and the ingest never overlapped in 3 tries: {attempts}"
    assert set(hosts) == set(workers), f"tasks by worker: {json.dumps(hosts, default=sorted)}"
    stackctl.say(f"e2e: lifecycle runs on Celery in {time.monotonic() - started:.0f}s: {hosts}")


def when(stamp: str) -> datetime:
    """A timestamp from the API as a datetime (its text need not compare as text)."""
    return datetime.fromisoformat(stamp)


def overlap(a: dict[str, Any], b: dict[str, Any]) -> bool:
    """Whether two task tries ran at the same time (each from its start to its end)."""
    return when(a["start_date"]) < when(b["end_date"]) and when(b["start_date"]) < when(
        a["end_date"]
    )


def train_beside_ingest(
    compose: stackctl.Compose, api: AirflowAPI, workers: dict[str, str]
) -> tuple[dict, bool]:
    """Trigger training, and the ingest once training runs; wait for both to succeed. Returns
    the tasks by worker and whether an ingest task ran while a try of training ran. Fails if
    a worker with one slot ran an ingest task while it ran training."""
    train_run = api.trigger(TRAIN, {})
    wait_running(api, train_run, "train")
    ingest_run = api.trigger(INGEST, {"day": NEW_DAY})
    hosts: dict[str, set[str]] = {}
    finished = {}
    for run in (train_run, ingest_run):
        done = api.wait_run(run["dag_id"], run["dag_run_id"], timeout=RUN_TIMEOUT)
        assert done["state"] == "success", done
        finished[run["dag_id"]] = tis = api.task_instances(run["dag_id"], run["dag_run_id"])
        for ti in tis:
            if ti["state"] == "skipped":
                continue
            assert ti["state"] == "success", ti
            assert ti["hostname"] in workers, (ti["task_id"], ti["hostname"], sorted(workers))
            hosts.setdefault(ti["hostname"], set()).add(f"{ti['dag_id']}.{ti['task_id']}")
    history = tries(api, train_run, "train")
    if len(history) > 1:
        stackctl.say(f"e2e: training needed a retry:\n{what_happened(compose, api, history)}")
    assert all(t["queue"] == "training" for t in history), history
    ingest = [ti for ti in finished[INGEST] if ti["state"] == "success"]
    beside = [(ti, t) for ti in ingest for t in history if t["end_date"] and overlap(ti, t)]
    assert all(ti["hostname"] != t["hostname"] for ti, t in beside), (
        f"a worker with one slot ran two tasks at once: {beside}"
    )
    return hosts, bool(beside)


def wait_running(api: AirflowAPI, run: dict[str, Any], task_id: str) -> dict[str, Any]:
    """The task instance once it runs on a worker (state running, hostname set)."""
    deadline = time.monotonic() + RUN_TIMEOUT
    while True:
        found = [t for t in api.task_instances(run["dag_id"], run["dag_run_id"])
                 if t["task_id"] == task_id]  # fmt: skip
        if found and found[0]["state"] == "running" and found[0]["hostname"]:
            return found[0]
        assert not found or found[0]["state"] not in ("success", "failed"), (
            f"{task_id} ended before a worker could be killed under it: {found[0]}"
        )
        assert time.monotonic() < deadline, f"{task_id} never ran: {found}"
        time.sleep(1)


def test_a_killed_workers_task_is_retried_on_the_other(deployed: dict, api: AirflowAPI) -> None:
    started = time.monotonic()
    workers = worker_hostnames(deployed["compose"])
    run = api.trigger(TRAIN, {})
    running = wait_running(api, run, "train")
    victim = running["hostname"]
    subprocess.run(["docker", "kill", workers[victim]], check=True, capture_output=True)
    killed_at = time.monotonic()
    stackctl.say(f"e2e: killed worker {victim} while it ran {TRAIN}.train")
    done = api.wait_run(TRAIN, run["dag_run_id"], timeout=RUN_TIMEOUT)
    history = tries(api, run, "train")
    assert done["state"] == "success", what_happened(deployed["compose"], api, history)
    assert history[0]["hostname"] == victim and history[0]["state"] == "failed", history
    assert history[-1]["state"] == "success", history
    assert history[-1]["hostname"] in set(workers) - {victim}, history
    state = subprocess.run(
        ["docker", "inspect", "--format", "{{.State.Status}}", workers[victim]],
        capture_output=True, text=True, check=True,
    ).stdout.strip()  # fmt: skip
    assert state == "exited", f"the killed worker came back ({state}): the retry proves nothing"
    stackctl.say(
        f"e2e: retried on {history[-1]['hostname']}; done {time.monotonic() - killed_at:.0f}s "
        f"after the kill, {time.monotonic() - started:.0f}s in all"
    )
