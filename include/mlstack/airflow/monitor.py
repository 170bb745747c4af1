"""``<usecase>__monitor``: one day of monitoring, then the retrain policy's decision.

On ``monitoring.schedule`` (daily by default) and by hand (param ``day``; with ``through``,
each day of a range in turn, up to the first that asks for a retrain): monitor the
champion on that day's logged requests (or the lake's rows, scored in batch, when no gateway
logs them) — drift, quality, realised and estimated performance, business value — and write
the metrics, alerts and Evidently report; then apply the retrain policy (its decision is
recorded at every maturity level), and — at maturity 5 or with
``automation.retrain_on_monitoring`` — when it says ``retrain`` emit the Asset
``retrain-request/<usecase>`` with the evidence, which schedules ``<usecase>__train``.
Alerts and requests go to the spec's notifiers.

Parse time stays cheap: the monitoring stage (pandas, Evidently) and the notifiers are
imported inside the tasks.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from airflow.sdk import DAG, task

from mlstack.airflow.assets import retrain_request_asset
from mlstack.airflow.usecase_dag import (
    StageTasks,
    day_param,
    run_days,
    simulator_start,
    through_param,
    usecase_dag,
)
from mlstack.specs import UseCaseSpec


def build_monitor(spec: UseCaseSpec) -> DAG:
    """``<usecase>__monitor``: monitor one day → policy → maybe a retrain-request Asset."""
    with usecase_dag(
        spec,
        "monitor",
        "monitoring",
        doc=__doc__,
        schedule=spec.monitoring.schedule,
        start_date=simulator_start(spec),
        params={"day": day_param("monitor"), "through": through_param("monitor")},
    ) as dag:
        monitor_tasks(spec)
    return dag


def monitor_tasks(spec: UseCaseSpec) -> StageTasks:
    """In the DAG being defined: ``monitor`` (the param ``day`` when the DAG has it, else the
    run's logical date) and, at maturity 5 or with ``automation.retrain_on_monitoring``,
    ``policy_says_retrain`` → ``request_retrain``, which emits ``retrain-request/<usecase>``."""
    request = retrain_request_asset(spec.name)

    @task(task_id="monitor", execution_timeout=timedelta(hours=1), multiple_outputs=True)
    def monitor_day(**context: Any) -> dict[str, Any]:
        """Monitor the run's day and apply the retrain policy; notify on alerts. With a
        range (``through``) the days go in order and the run stops after the first whose
        decision is ``retrain``, so that request is acted on for its own day: the summary is
        the last monitored day's (its ``run_date``), the days before it under ``earlier``."""
        days = run_days(context)
        summaries = []
        for day in days:
            summaries.append(monitor_one(spec, day))
            if summaries[-1].get("decision") == "retrain":
                break
        if len(days) == 1:
            return summaries[0]
        return {**summaries[-1], "earlier": summaries[:-1]}

    @task.short_circuit(
        task_id="policy_says_retrain", ignore_downstream_trigger_rules=False, multiple_outputs=False
    )
    def policy_says_retrain(out: dict[str, Any]) -> bool:
        """Continue only when the policy decided ``retrain`` (skipped tasks emit nothing)."""
        return out.get("decision") == "retrain"

    @task(task_id="request_retrain", outlets=[request], multiple_outputs=True)
    def request_retrain(out: dict[str, Any], **context: Any) -> dict[str, Any]:
        """Emit ``retrain-request/<usecase>`` with the evidence; notify."""
        from mlstack.notifications.dispatch import notify  # lazy: HTTP clients

        payload = out["request"]
        context["outlet_events"][request].extra = payload
        notify(
            spec,
            "retrain",
            {
                "day": out["run_date"],
                "messages": [payload["reason"]],
                "root_cause": payload["root_cause"],
                "report_uri": out.get("report_uri"),
            },
        )
        return payload

    result: Any = monitor_day()
    if not spec.switches()["retrain_on_monitoring"]:
        return StageTasks.of("monitor", [result], spec)
    gate, ask = policy_says_retrain(result), request_retrain(result)
    gate >> ask
    return StageTasks.of("monitor", [result, gate, ask], spec)


def monitor_one(spec: UseCaseSpec, day: date) -> dict[str, Any]:
    """Monitor ``day`` and apply the retrain policy (with its request when it says
    ``retrain``); notify the spec's notifiers of the day's alerts. The day's summary."""
    # lazy: pandas, Evidently and the notifiers stay out of DAG parsing
    from mlstack.notifications.dispatch import notify
    from mlstack.stages import monitor, retrain

    result = monitor.run(spec, day)
    out = result.to_dict()
    if result.evidence is None:
        return out
    decision = retrain.evaluate(spec, result.evidence)
    out |= {"decision": decision.decision, "reason": decision.reason}
    if decision.decision == "retrain":
        out["request"] = decision.request()
    if result.alerts:
        out["notified"] = notify(
            spec,
            "alert",
            {
                "day": day.isoformat(),
                "messages": [a.message for a in result.alerts],
                "root_cause": decision.root_cause,
                "report_uri": result.report_uri,
            },
        )
    return out
