"""Healthchecks of the project image's services, cheap enough to run every 10 seconds.

    python /opt/airflow/healthcheck.py url URL       URL answers 2xx (api-server, scheduler, MLflow)
    python /opt/airflow/healthcheck.py job JOB_TYPE  this container's Airflow job is running and
                                                     heartbeated within 30 s (TriggererJob,
                                                     DagProcessorJob)
    python /opt/airflow/healthcheck.py celery ping   this container's Celery worker answers a ping
                                                     through the broker (airflow-worker)

`job` asks Airflow's database what `airflow jobs check --local` asks, with psycopg2 instead
of importing Airflow: that import costs about 3 s of CPU per check, twice a minute per
service, on a laptop; `celery` imports Celery alone, not Airflow. Exit status 0 = healthy, as
Docker expects.
"""

from __future__ import annotations

import os
import socket
import sys
import urllib.request

#: Airflow's default [triggerer]/[dag_processor] health_check_threshold, in seconds
HEARTBEAT_THRESHOLD_S = 30


def check_url(url: str) -> None:
    with urllib.request.urlopen(url, timeout=5) as response:  # noqa: S310 (local URL)
        if not 200 <= response.status < 300:
            raise SystemExit(f"{url}: HTTP {response.status}")


def airflow_hostname() -> str:
    """The hostname Airflow records for its jobs (airflow.utils.net.getfqdn)."""
    name = socket.gethostname()
    try:
        infos = socket.getaddrinfo(name, None, 0, socket.SOCK_DGRAM, 0, socket.AI_CANONNAME)
    except OSError:
        return name
    return next((info[3] for info in infos if info[3]), name)


def check_job(job_type: str) -> None:
    import psycopg2

    url = os.environ["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"].replace("+psycopg2", "", 1)
    with psycopg2.connect(url, connect_timeout=5) as conn, conn.cursor() as cur:
        cur.execute(
            "SELECT count(*) FROM job WHERE job_type = %s AND hostname = %s"
            " AND state = 'running' AND latest_heartbeat > now() - %s * interval '1 second'",
            (job_type, airflow_hostname(), HEARTBEAT_THRESHOLD_S),
        )
        (alive,) = cur.fetchone()
    conn.close()
    if alive != 1:
        raise SystemExit(f"{job_type} on {airflow_hostname()}: {alive} alive jobs, expected 1")


def check_celery_worker() -> None:
    """This container's Celery worker (``celery@<hostname>``, Celery's default node name)
    answers a ping sent through the broker of AIRFLOW__CELERY__BROKER_URL."""
    from celery import Celery

    node = f"celery@{socket.gethostname()}"
    app = Celery(broker=os.environ["AIRFLOW__CELERY__BROKER_URL"])
    replies = app.control.ping(destination=[node], timeout=5.0)
    if not any(node in reply for reply in replies):
        raise SystemExit(f"{node} did not answer a ping through the broker")


if __name__ == "__main__":
    kind, target = sys.argv[1:3]
    if kind == "url":
        check_url(target)
    elif kind == "celery":
        check_celery_worker()
    else:
        check_job(target)
