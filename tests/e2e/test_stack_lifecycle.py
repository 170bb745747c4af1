"""The demo use case's lifecycle, run by the compose stack's own scheduler.

A client triggers ``credit_default__ingest`` through Airflow's REST API; the scheduler runs
the catalog on the ingest Asset. The client ingests enough days for a first model (features,
and their labels 30 days later), triggers training as a user would (it runs on a schedule,
retrain requests or by hand, not on every ingest), and the scheduler runs promotion on the
candidate Asset: the first model becomes ``champion``. A few more days of data and a second
training give a better model, which promotion names ``challenger``; on that Asset the
scheduler starts ``credit_default__rollout``. The gateway container picks the rollout up and
splits traffic; the demo profile's traffic simulator sends applications to it from inside the
compose network and feeds their labels back; the rollout's sensor reaches a decision (promote
or roll back). ``credit_default__monitor`` then runs on the gateway's logged predictions.

The rollout is test-sized through ``MLSTACK_SPEC_OVERRIDES`` (see e2e_stack.E2E_ROLLOUT): one
50% stage, a short poll and duration, a few hundred labelled requests; its statistics and
decision rules are the product's.

The test checks what a user would look at: the Iceberg table has the day's rows, the catalog
has that version, MLflow has the champion with its artifacts in the ``mlflow`` bucket, the
rollout's decision is recorded with its report in the ``lake`` bucket and the aliases agree
with it, the monitoring metrics and report of the day are there, and no task failed.

DAGs that do not exist yet are reported as not asserted, loudly, never skipped silently.
"""

from __future__ import annotations

import os
import time
from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx
import pytest
from airflow_api import FAILED_TASK_STATES, TERMINAL, AirflowAPI
from e2e_stack import E2E_ROLLOUT, Stack, stackctl

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(2400)]

USECASE = "credit_default"
DAY = os.environ.get("MLSTACK_E2E_DAY", "2026-01-05")
INGEST, CATALOG = f"{USECASE}__ingest", f"{USECASE}__catalog"
TRAIN, PROMOTE = f"{USECASE}__train", f"{USECASE}__promote"
ROLLOUT, MONITOR = f"{USECASE}__rollout", f"{USECASE}__monitor"
#: feature days ingested before training: 5 holdout + 5 validation days + enough training rows
TRAIN_DAYS = int(os.environ.get("MLSTACK_E2E_TRAIN_DAYS", "13"))
#: further feature days (and their labels) before the second model: it trains on more rows and
#: beats the first on its holdout (+0.012 roc_auc with 2 days here; min_delta is 0.002)
CHALLENGER_DAYS = int(os.environ.get("MLSTACK_E2E_CHALLENGER_DAYS", "3"))
LABEL_DELAY_DAYS = 30  # include/usecases/credit_default/usecase.yaml
#: simulated requests the traffic simulator sends through the gateway during the rollout
TRAFFIC_REQUESTS = int(os.environ.get("MLSTACK_E2E_TRAFFIC_REQUESTS", "500"))
TRAFFIC_RATE = float(os.environ.get("MLSTACK_E2E_TRAFFIC_RATE", "0"))  # per second; 0 = max
#: how long a DAG the scheduler should start may take to appear before the test starts it
SCHEDULER_GRACE = float(os.environ.get("MLSTACK_E2E_SCHEDULER_GRACE", "120"))
RUN_TIMEOUT = float(os.environ.get("MLSTACK_E2E_RUN_TIMEOUT", "900"))


_T0: list[float] = []


def say(message: str) -> None:
    """A progress line with the time since the test began (the stack was up by then)."""
    _T0 or _T0.append(time.monotonic())
    elapsed = time.monotonic() - _T0[0]
    stackctl.say(f"e2e [{elapsed // 60:02.0f}:{elapsed % 60:02.0f}]: {message}")


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


def ingest_days(first: date, count: int) -> list[str]:
    """``count`` feature days from ``first``, plus the days their labels land, in order."""
    features = [first + timedelta(days=i) for i in range(count)]
    labels = [d + timedelta(days=LABEL_DELAY_DAYS) for d in features]
    return [d.isoformat() for d in sorted({*features, *labels})]


def trigger_ingests(api: AirflowAPI, days: list[str]) -> list[dict[str, Any]]:
    """One ``<usecase>__ingest`` run per day, through the REST API (they run one at a time)."""
    runs = [api.trigger(INGEST, {"day": day}) for day in days]
    say(f"triggered {INGEST} for {len(days)} days ({days[0]}..{days[-1]}) via REST")
    return runs


def wait_ingests(api: AirflowAPI, days: list[str], runs: list[dict[str, Any]]) -> None:
    for day, run in zip(days, runs, strict=True):
        run = api.wait_run(INGEST, run["dag_run_id"], timeout=RUN_TIMEOUT)
        assert run["state"] == "success", f"{INGEST} day={day} ended {run['state']}"
    say(f"{INGEST}: {len(days)} runs succeeded")


def train_and_promote(stack: Stack, label: str) -> dict[str, Any]:
    """Trigger training via REST, wait for it and for the promotion the scheduler starts."""
    train = stack.api.trigger(TRAIN, {})
    say(f"triggered {TRAIN} ({label}) via REST: run {train['dag_run_id']}")
    train = stack.api.wait_run(TRAIN, train["dag_run_id"], timeout=RUN_TIMEOUT)
    assert train["state"] == "success", f"{TRAIN} ({label}) ended {train['state']}"
    return train


def wait_started_run(stack: Stack, dag_id: str, after: str) -> dict[str, Any]:
    """The first run of ``dag_id`` queued after ``after``; fails if the scheduler starts none."""
    deadline = time.monotonic() + SCHEDULER_GRACE
    while not (found := runs_after(stack, dag_id, after)):
        if time.monotonic() > deadline:
            raise AssertionError(
                f"{dag_id}: the scheduler started no run within {SCHEDULER_GRACE:.0f}s of {after}"
            )
        time.sleep(3)
    return min(found, key=lambda r: r["queued_at"])


def wait_gateway_serves_rollout(stack: Stack, challenger: int, timeout: float = 120) -> dict:
    """Wait until the gateway answers with the rollout and the challenger, several times in a
    row (each worker process refreshes on its own)."""
    deadline, streak, state = time.monotonic() + timeout, 0, {}
    with httpx.Client(base_url=stack.gateway_url, timeout=10) as http:
        while streak < 6:
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"gateway does not serve the rollout of v{challenger}: {state}"
                )
            try:
                state = http.get(f"/v1/{USECASE}").json()
            except (httpx.HTTPError, ValueError) as exc:
                state = {"error": str(exc)}
            ok = (
                state.get("rollout")
                and (state.get("challenger") or {}).get("version") == challenger
            )
            streak = streak + 1 if ok else 0
            time.sleep(1)
    return state


def explain_runs(stack: Stack, dag_id: str, runs: list[dict[str, Any]]) -> None:
    """Print every task of these runs with its state and the end of its log."""
    for run in runs:
        for ti in stack.api.task_instances(dag_id, run["dag_run_id"]):
            say(f"--- {dag_id}.{ti['task_id']} ({run['dag_run_id']}): {ti['state']}\n"
                f"{stack.api.task_log(ti)[-3000:]}")  # fmt: skip


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
    say("the stack is up; waiting for the use case's DAGs")
    try:
        for dag_id in (INGEST, CATALOG):
            api.wait_for_dag(dag_id, timeout=300)
        exists = {d: api.dag_exists(d) for d in (TRAIN, PROMOTE, ROLLOUT, MONITOR)}
        has_models = exists[TRAIN] and exists[PROMOTE]

        # --- ingest, triggered as a client would ----------------------------------------
        first = date.fromisoformat(DAY)
        days = ingest_days(first, TRAIN_DAYS) if has_models else [DAY]
        triggered = trigger_ingests(api, days)
        wait_ingests(api, days, triggered)
        asserted.append(f"{INGEST} succeeded for {len(days)} days incl. {DAY} (REST trigger)")

        # --- catalog, started by the scheduler on the ingest Asset ----------------------
        catalog_runs = wait_chained_runs(stack, CATALOG, after=triggered[0]["queued_at"])
        assert all(r["state"] == "success" for r in catalog_runs), catalog_runs
        assert any(r["run_type"] == "asset_triggered" for r in catalog_runs), (
            f"{CATALOG} was not started by the scheduler on the ingest Asset: {catalog_runs}"
        )
        asserted.append(f"{CATALOG} started by the scheduler on the Asset and succeeded")

        facts = stack.probe(USECASE, DAY, "lake")
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

        # --- the first model: training, and promotion on the candidate Asset ------------
        if not has_models:
            not_asserted.append(
                f"{TRAIN}/{PROMOTE} do not exist: no champion, challenger, rollout or monitoring"
            )
        else:
            train = train_and_promote(stack, "first model")
            asserted.append(f"{TRAIN} succeeded (REST trigger, after the ingests)")
            # more days for the second model, ingested while the first is being promoted
            more_days = ingest_days(first + timedelta(days=TRAIN_DAYS), CHALLENGER_DAYS)
            more_runs = trigger_ingests(api, more_days)
            promote_runs = wait_chained_runs(stack, PROMOTE, after=train["queued_at"])
            assert all(r["state"] == "success" for r in promote_runs), promote_runs
            asserted.append(
                f"{PROMOTE} succeeded ({', '.join(r['run_type'] for r in promote_runs)})"
            )
            probed = stack.probe(USECASE, DAY, "model", "promotions")
            champion = probed["champion"]
            say(f"probe: champion {champion}")
            if not champion or "error" in champion:
                explain_runs(stack, PROMOTE, promote_runs)
                raise AssertionError(
                    f"no champion of {USECASE}: {champion}; promotions {probed['promotions']}"
                )
            asserted.append(f"MLflow model {USECASE} has alias champion -> v{champion['version']}")
            assert champion["artifact_keys"], (
                f"no artifacts of the champion (run {champion['run_id']}, model "
                f"{champion['model_id']}) in the mlflow bucket"
            )
            asserted.append(
                f"champion's artifacts are in s3://mlflow ({len(champion['artifact_keys'])} "
                f"objects, e.g. {champion['artifact_keys'][0]})"
            )
            wait_ingests(api, more_days, more_runs)
            champion_v = int(champion["version"])
            challenger_v = second_model_becomes_challenger(stack, champion_v, asserted)
            if exists[ROLLOUT]:
                rollout_run, traffic_day = rollout_runs_with_gateway_traffic(
                    stack, champion_v, challenger_v, asserted
                )
            else:
                not_asserted.append(f"{ROLLOUT} does not exist")
                traffic_day = datetime.now(UTC).date()
                rollout_run = None
            if exists[MONITOR]:
                monitor_run = api.trigger(MONITOR, {"day": traffic_day.isoformat()})
                say(f"triggered {MONITOR} day={traffic_day} via REST: {monitor_run['dag_run_id']}")
            else:
                not_asserted.append(f"{MONITOR} does not exist")
            if rollout_run is not None:
                rollout_decides(stack, rollout_run, champion_v, challenger_v, asserted)
            if exists[MONITOR]:
                monitor_reads_the_gateway_logs(stack, monitor_run, traffic_day, asserted)

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


def second_model_becomes_challenger(stack: Stack, champion: int, asserted: list[str]) -> int:
    """Train again on more days; promotion must name the new version ``challenger``."""
    train = train_and_promote(stack, "second model")
    promote_runs = wait_chained_runs(stack, PROMOTE, after=train["queued_at"])
    assert all(r["state"] == "success" for r in promote_runs), promote_runs
    facts = stack.probe(USECASE, DAY, "promotions")
    latest = facts["promotions"][0]
    version = int(latest["model_version"])
    say(f"probe: v{version} {latest['outcome']} ({'; '.join(latest['reasons'] or [])}); "
        f"aliases {facts['aliases']}")  # fmt: skip
    if version <= champion or latest["outcome"] != "challenger":
        explain_runs(stack, PROMOTE, promote_runs)
    assert version > champion, f"no new version was promoted: {facts['promotions']}"
    assert latest["outcome"] == "challenger", (
        f"v{version} was not named challenger; its gates: {latest['gates']}"
    )
    assert facts["aliases"].get("challenger") == version, facts["aliases"]
    assert facts["aliases"].get("champion") == champion, facts["aliases"]
    asserted.append(
        f"second {TRAIN} run (+{CHALLENGER_DAYS} days) -> {PROMOTE} named v{version} challenger "
        f"(champion still v{champion})"
    )
    return version


def rollout_runs_with_gateway_traffic(
    stack: Stack, champion: int, challenger: int, asserted: list[str]
) -> tuple[dict[str, Any], date]:
    """The scheduler starts the rollout on the challenger Asset; the gateway splits traffic
    the simulator sends from inside the compose network. Returns the run and the traffic's day."""
    promote = stack.api.runs(PROMOTE)[0]
    run = wait_started_run(stack, ROLLOUT, after=promote["queued_at"])
    assert run["run_type"] == "asset_triggered", f"{ROLLOUT} not started on the Asset: {run}"
    asserted.append(f"{ROLLOUT} started by the scheduler on the challenger Asset")
    served = wait_gateway_serves_rollout(stack, challenger)
    say(f"gateway serves champion v{champion}, challenger v{challenger}: {served['rollout']}")
    asserted.append(
        f"gateway serves v{champion} and v{challenger} at split {served.get('split')} "
        f"(rollout {served['rollout']['rollout_id']})"
    )
    traffic_day = datetime.now(UTC).date()
    sent = stack.traffic(USECASE, TRAFFIC_REQUESTS, TRAFFIC_RATE)
    say(f"traffic (compose run traffic -> http://gateway:8000): {sent}")
    assert sent["answered"] == sent["sent"] == TRAFFIC_REQUESTS and not sent["failed"], sent
    assert sent["labels"] == sent["answered"], sent
    assert sent["variants"].get("champion") and sent["variants"].get("challenger"), sent
    asserted.append(
        f"traffic simulator (demo profile, inside the compose network) got {sent['answered']} "
        f"answers from the gateway {sent['variants']} and fed back {sent['labels']} labels"
    )
    return run, traffic_day


def rollout_decides(
    stack: Stack, run: dict[str, Any], champion: int, challenger: int, asserted: list[str]
) -> None:
    """The rollout run ends in a recorded decision, its report in the lake, aliases to match."""
    run = stack.api.wait_run(ROLLOUT, run["dag_run_id"], timeout=RUN_TIMEOUT)
    if run["state"] != "success":
        explain_runs(stack, ROLLOUT, [run])
    assert run["state"] == "success", f"{ROLLOUT} ended {run['state']}"
    facts = stack.probe(USECASE, DAY, "rollout")["rollout"]
    ro, decisions = facts["rollout"], facts.get("decisions") or []
    assert ro is not None, f"no rollout recorded for {USECASE}"
    assert (ro["champion_version"], ro["challenger_version"]) == (champion, challenger), ro
    assert decisions, f"rollout {ro['rollout_id']} has no decision"
    final = decisions[-1]
    say(f"rollout {ro['rollout_id']}: {ro['state']}; decisions "
        f"{[(d['stage_index'], d['action']) for d in decisions]}; final reasons "
        f"{final['reasons']}; aliases {facts['aliases']}")  # fmt: skip
    expected_state = {"promote": "promoted", "rollback": "rolled_back"}
    assert final["action"] in expected_state, f"the rollout ended in {final['action']}: {final}"
    assert ro["state"] == expected_state[final["action"]], (ro["state"], final["action"])
    asserted.append(
        f"{ROLLOUT} succeeded: decision {final['action']} ({'; '.join(final['reasons'])[:160]})"
    )

    evidence = final["evidence"]
    counts = evidence["counts"]
    assert counts["champion"] > 0 and counts["challenger"] > 0, evidence
    guardrail = any(r.startswith("guardrail") for r in final["reasons"])
    if not guardrail:  # a guardrail may stop a stage before min_samples; nothing else may
        assert evidence["stage_samples"] >= E2E_ROLLOUT["min_samples"], evidence
    asserted.append(
        f"decision rests on the gateway's logs: {counts} requests, {evidence['stage_samples']} "
        f"labelled per variant (min_samples {E2E_ROLLOUT['min_samples']})"
    )

    key = f"reports/rollouts/{USECASE}/{ro['rollout_id']}/{final['stage_index']}-{final['action']}"
    missing = {f"{key}.html", f"{key}.json"} - set(facts["report_keys"])
    assert not missing, f"rollout report objects missing: {missing}; found {facts['report_keys']}"
    assert final["report_uri"] == f"{facts['lake_url'].rstrip('/')}/{key}.html", final
    asserted.append(f"decision recorded with its report {final['report_uri']} (+ .json)")

    aliases, tags = facts["aliases"], facts["rollout_tags"]
    if final["action"] == "promote":
        assert aliases.get("champion") == challenger, aliases
        assert "challenger" not in aliases, aliases
        asserted.append(f"aliases agree: champion -> v{challenger}, no challenger left")
    else:
        assert aliases.get("champion") == champion, aliases
        assert aliases.get("challenger") != challenger, aliases
        assert tags.get(str(challenger)) == "rolled_back", tags
        asserted.append(
            f"aliases agree: champion still v{champion}, v{challenger} no longer challenger "
            "and tagged rolled_back"
        )


def monitor_reads_the_gateway_logs(
    stack: Stack, run: dict[str, Any], day: date, asserted: list[str]
) -> None:
    """The monitor run used the day's logged predictions and wrote metrics and a report."""
    run = stack.api.wait_run(MONITOR, run["dag_run_id"], timeout=RUN_TIMEOUT)
    if run["state"] != "success":
        explain_runs(stack, MONITOR, [run])
    assert run["state"] == "success", f"{MONITOR} ended {run['state']}"
    out = stack.api.xcom(MONITOR, run["dag_run_id"], "monitor")
    say(f"{MONITOR} day={day}: {out}")
    facts = stack.probe(USECASE, day.isoformat(), "monitor")["monitor"]
    logged = sum(n for k, n in facts["logged_predictions"].items() if not k.startswith("shadow/"))
    assert out["source"] == "gateway", f"monitoring did not read the gateway's logs: {out}"
    assert out["rows"] == logged >= TRAFFIC_REQUESTS, (out, facts["logged_predictions"])
    assert out.get("decision"), f"the retrain policy gave no decision: {out}"
    asserted.append(
        f"{MONITOR} succeeded on the gateway's {logged} logged predictions of {day} "
        f"({facts['logged_predictions']}); retrain policy: {out['decision']}"
    )

    metrics = facts["metrics"]
    names = {m["metric"] for m in metrics}
    rows_metric = [m["value"] for m in metrics if m["metric"] == "rows"]  # per model version
    assert rows_metric and sum(rows_metric) == logged, (rows_metric, logged)
    drift = [m for m in metrics if m["metric"] == "drift_score" and m["value"] is not None]
    estimated = [
        m for m in metrics if m["metric"].startswith("estimated_") and m["value"] is not None
    ]
    assert drift, f"no drift_score metrics for {day}: {sorted(names)}"
    assert estimated, f"no estimated performance metrics for {day}: {sorted(names)}"
    assert {"prediction_drift", "drift_share", "quality_issues"} <= names, sorted(names)
    asserted.append(
        f"monitoring_metrics has {len(metrics)} rows for {day}: {len(drift)} drift scores "
        f"(feature x model version), {', '.join(sorted({m['metric'] for m in estimated}))}, "
        "prediction drift, quality"
    )
    key = f"reports/{USECASE}/{day.isoformat()}/monitor"
    missing = {f"{key}.html", f"{key}.json"} - set(facts["report_keys"])
    assert not missing, (
        f"monitoring report objects missing: {missing}; found {facts['report_keys']}"
    )
    assert str(out.get("report_uri", "")).endswith(f"{key}.html"), out
    asserted.append(f"monitoring report {out['report_uri']} (+ .json) in the lake")
