"""The demo use case's lifecycle, run by the compose stack's own scheduler.

A client triggers ``credit_default__ingest`` through Airflow's REST API; the scheduler runs
the catalog on the ingest Asset. Where the training DAG exists, the client ingests enough
days for a first model (features, and their labels 30 days later), triggers training as a
user would (it runs on a schedule, retrain requests or by hand, not on every ingest), and the
scheduler runs promotion on the candidate Asset. The test then checks what a user would look
at: the Iceberg table has the day's rows, the catalog has that version, MLflow has the model
with its `champion` alias and its artifacts in the `mlflow` bucket, and no task failed.

DAGs that do not exist yet are reported as not asserted, loudly, never skipped silently.
"""

from __future__ import annotations

import os
import time
from datetime import date, timedelta
from typing import Any

import pytest
from airflow_api import FAILED_TASK_STATES, TERMINAL
from e2e_stack import Stack, stackctl

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(2400)]

USECASE = "credit_default"
DAY = os.environ.get("MLSTACK_E2E_DAY", "2026-01-05")
INGEST, CATALOG = f"{USECASE}__ingest", f"{USECASE}__catalog"
TRAIN, PROMOTE = f"{USECASE}__train", f"{USECASE}__promote"
#: feature days ingested before training: 5 holdout + 5 validation days + enough training rows
TRAIN_DAYS = int(os.environ.get("MLSTACK_E2E_TRAIN_DAYS", "13"))
LABEL_DELAY_DAYS = 30  # include/usecases/credit_default/usecase.yaml
#: how long a DAG the scheduler should start may take to appear before the test starts it
SCHEDULER_GRACE = float(os.environ.get("MLSTACK_E2E_SCHEDULER_GRACE", "120"))
RUN_TIMEOUT = float(os.environ.get("MLSTACK_E2E_RUN_TIMEOUT", "900"))


def say(message: str) -> None:
    stackctl.say(f"e2e: {message}")


def runs_after(stack: Stack, dag_id: str, after: str) -> list[dict[str, Any]]:
    """Runs of ``dag_id`` queued at or after the ISO time ``after``."""
    return [r for r in stack.api.runs(dag_id) if (r.get("queued_at") or "") >= after]


def wait_chained_runs(stack: Stack, dag_id: str, after: str) -> list[dict[str, Any]]:
    """Wait for the scheduler to start ``dag_id`` after ``after`` and finish every such run.

    If no run appears within SCHEDULER_GRACE, start one through the API (and say so): the
    DAG exists but is not scheduled on its upstream, which the summary then shows.
    """
    deadline = time.monotonic() + SCHEDULER_GRACE
    while not (found := runs_after(stack, dag_id, after)):
        if time.monotonic() > deadline:
            say(f"{dag_id}: the scheduler started no run within {SCHEDULER_GRACE:.0f}s; "
                "triggering it through the REST API")  # fmt: skip
            stack.api.trigger(dag_id, {})
            break
        time.sleep(3)
    deadline = time.monotonic() + RUN_TIMEOUT
    while True:
        found = runs_after(stack, dag_id, after)
        if found and all(r["state"] in TERMINAL for r in found):
            return found
        if time.monotonic() > deadline:
            states = [(r["dag_run_id"], r["state"]) for r in found]
            raise AssertionError(f"{dag_id}: runs not finished after {RUN_TIMEOUT:.0f}s: {states}")
        time.sleep(3)


def ingest_days(with_training: bool) -> list[str]:
    """DAY alone, or DAY and the following feature days plus the days their labels land."""
    if not with_training:
        return [DAY]
    first = date.fromisoformat(DAY)
    features = [first + timedelta(days=i) for i in range(TRAIN_DAYS)]
    labels = [d + timedelta(days=LABEL_DELAY_DAYS) for d in features]
    return [d.isoformat() for d in sorted({*features, *labels})]


def failed_tasks(stack: Stack) -> list[dict[str, Any]]:
    """Every failed task instance of every finished run of every DAG in the stack."""
    failed = []
    for dag in stack.api.get("/dags", limit=100)["dags"]:
        for run in stack.api.runs(dag["dag_id"]):
            if run["state"] not in TERMINAL:
                continue
            failed += [
                ti
                for ti in stack.api.task_instances(dag["dag_id"], run["dag_run_id"])
                if ti["state"] in FAILED_TASK_STATES
            ]
    return failed


def test_stack_runs_the_lifecycle_from_a_rest_trigger(stack: Stack) -> None:
    api = stack.api
    asserted: list[str] = []
    not_asserted: list[str] = []
    try:
        for dag_id in (INGEST, CATALOG):
            api.wait_for_dag(dag_id, timeout=300)
        has_train, has_promote = api.dag_exists(TRAIN), api.dag_exists(PROMOTE)

        # --- ingest, triggered as a client would ----------------------------------------
        days = ingest_days(with_training=has_train)
        triggered = [api.trigger(INGEST, {"day": day}) for day in days]
        say(f"triggered {INGEST} for {len(days)} days ({days[0]}..{days[-1]}) via REST")
        for day, run in zip(days, triggered, strict=True):
            run = api.wait_run(INGEST, run["dag_run_id"], timeout=RUN_TIMEOUT)
            assert run["state"] == "success", f"{INGEST} day={day} ended {run['state']}"
        say(f"{INGEST}: {len(days)} runs succeeded")
        asserted.append(f"{INGEST} succeeded for {len(days)} days incl. {DAY} (REST trigger)")

        # --- catalog, started by the scheduler on the ingest Asset ----------------------
        catalog_runs = wait_chained_runs(stack, CATALOG, after=triggered[0]["queued_at"])
        assert all(r["state"] == "success" for r in catalog_runs), catalog_runs
        assert any(r["run_type"] == "asset_triggered" for r in catalog_runs), (
            f"{CATALOG} was not started by the scheduler on the ingest Asset: {catalog_runs}"
        )
        asserted.append(f"{CATALOG} started by the scheduler on the Asset and succeeded")

        facts = stack.probe(USECASE, DAY)
        say(f"probe: {facts['iceberg']}, {len(facts['catalog_versions'])} catalog versions")
        day_rows = facts["iceberg"]["day_rows"]
        assert day_rows > 0, f"Iceberg table {facts['iceberg']['table']} has no rows on {DAY}"
        asserted.append(f"Iceberg table {facts['iceberg']['table']} has {day_rows} rows on {DAY}")
        version = next(
            (v for v in facts["catalog_versions"] if v["partition"] == f"day={DAY}"), None
        )
        assert version is not None, f"no catalog version for day={DAY}: {facts['catalog_versions']}"
        assert version["partition_rows"] == day_rows, (version, day_rows)
        assert version["snapshot_id"] in {v["snapshot_id"] for v in facts["catalog_versions"]}
        asserted.append(
            f"catalog has version {version['version']} (snapshot {version['snapshot_id']}) "
            f"for day={DAY} with the same {day_rows} rows"
        )

        # --- training and promotion, where those DAGs exist -----------------------------
        if has_train:
            train = api.trigger(TRAIN, {})
            say(f"triggered {TRAIN} via REST: run {train['dag_run_id']}")
            train = api.wait_run(TRAIN, train["dag_run_id"], timeout=RUN_TIMEOUT)
            assert train["state"] == "success", f"{TRAIN} ended {train['state']}"
            asserted.append(f"{TRAIN} succeeded (REST trigger, after the ingests)")
            if has_promote:
                promote_runs = wait_chained_runs(stack, PROMOTE, after=train["queued_at"])
                assert all(r["state"] == "success" for r in promote_runs), promote_runs
                asserted.append(
                    f"{PROMOTE} succeeded ({', '.join(r['run_type'] for r in promote_runs)})"
                )
            else:
                not_asserted.append(f"{PROMOTE} does not exist")
        else:
            not_asserted.append(f"{TRAIN} and {PROMOTE} do not exist")

        if has_train and has_promote:
            champion = stack.probe(USECASE, DAY, "model")["champion"]
            say(f"probe: champion {champion}")
            assert champion and "error" not in champion, f"no champion of {USECASE}: {champion}"
            asserted.append(f"MLflow model {USECASE} has alias champion -> v{champion['version']}")
            assert champion["artifact_keys"], (
                f"no artifacts of the champion (run {champion['run_id']}, model "
                f"{champion['model_id']}) in the mlflow bucket"
            )
            asserted.append(
                f"champion's artifacts are in s3://mlflow ({len(champion['artifact_keys'])} "
                f"objects, e.g. {champion['artifact_keys'][0]})"
            )
        else:
            not_asserted.append(
                f"MLflow registered model {USECASE} with alias champion and its artifacts "
                "in the mlflow bucket (needs the train and promote DAGs)"
            )

        # --- the mlstack pages inside the Airflow UI (plugins/mlstack_plugin.py) ---------
        monitoring = api.page("/mlstack/monitoring/")
        assert monitoring.status_code == 200, f"/mlstack/monitoring/: HTTP {monitoring.status_code}"
        assert USECASE in monitoring.text, f"/mlstack/monitoring/ does not show {USECASE}"
        asserted.append(f"the Airflow UI plugin's monitoring page shows {USECASE}")

        failed = failed_tasks(stack)
        for ti in failed:
            say(f"failed task {ti['dag_id']}.{ti['task_id']} ({ti['dag_run_id']}):\n"
                f"{api.task_log(ti)[-4000:]}")  # fmt: skip
        assert not failed, [f"{t['dag_id']}.{t['task_id']}: {t['state']}" for t in failed]
        asserted.append("no task of any DAG run in the stack failed")
    except BaseException:
        say("FAILED; logs of the scheduler and of any unready service follow")
        stack.dump_logs()
        raise
    finally:
        say("asserted:\n" + "\n".join(f"  ✔ {line}" for line in asserted))
        if not_asserted:
            say("NOT asserted (not built yet):\n" + "\n".join(f"  ✘ {x}" for x in not_asserted))
