"""``<usecase>__rollout``: the A/B (or shadow) rollout of a challenger, watched to its end.

Scheduled on the Asset ``model-challenger/<usecase>`` that ``<usecase>__promote`` emits
(maturity 4 and up, or ``automation.ab_rollout``), and by hand (param ``version``; empty =
alias ``challenger``).

``start``  creates the rollout (stages from the spec's ``rollout`` section); the gateway
           picks it up within its refresh interval and splits traffic (or shadows).
``watch``  a sensor in ``reschedule`` mode (no worker held while waiting): every
           ``rollout.poll_interval`` it gathers the evidence (SRM, always-valid test,
           guardrails) and acts — next stage, promote, roll back or halt — recording each
           decision with a report in the lake and calling the notifier. It ends when the
           rollout does.

The statistics live in :mod:`mlstack.stages.rollout`; nothing heavy is imported at parse time.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from airflow.sdk import DAG, PokeReturnValue, task
from airflow.sdk.exceptions import AirflowSkipException

from mlstack.airflow.assets import challenger_asset
from mlstack.airflow.usecase_dag import StageTasks, producer, run_param, run_type, usecase_dag
from mlstack.specs import UseCaseSpec

log = logging.getLogger(__name__)


def build_rollout(spec: UseCaseSpec) -> DAG:
    """``<usecase>__rollout``: start the rollout, then watch it to its decision."""
    with usecase_dag(
        spec,
        "rollout",
        "A/B rollout",
        doc=__doc__,
        schedule=challenger_asset(spec.name) if spec.switches()["ab_rollout"] else None,
        params={"version": run_param(["null", "integer"], "Challenger version; empty = alias")},
    ) as dag:
        rollout_tasks(spec)
    return dag


def rollout_tasks(spec: UseCaseSpec) -> StageTasks:
    """In the DAG being defined: ``start`` (the param ``version`` when the DAG has it, else
    the version of the challenger event that triggered the run, else alias ``challenger``;
    skipped when there is none), then the ``watch`` sensor until the rollout ends."""
    challenger = challenger_asset(spec.name)
    rs = spec.rollout
    stages = len(rs.stages) + (1 if rs.mode == "shadow" else 0)

    @task(task_id="start", inlets=[challenger], multiple_outputs=False)
    def start(**context: Any) -> str:
        """Create the rollout of the challenger (idempotent for the same version)."""
        # lazy: MLflow and the statistics stay out of DAG parsing
        from mlstack import registry
        from mlstack.stages import rollout
        from mlstack.vocabulary import CHALLENGER

        version = (context.get("params") or {}).get("version")
        if version is None and run_type(context) == "asset_triggered":
            # the challenger named by the event that triggered this run; a manual run
            # rolls out the current challenger alias (an older event may be stale)
            events = context["inlet_events"][challenger]
            if len(events):
                version = (events[-1].extra or {}).get("version")
        if version is None and registry.get_alias(spec.name, CHALLENGER) is None:
            raise AirflowSkipException(f"{spec.name} has no challenger to roll out")
        row = rollout.start(spec, challenger_version=version, actor=producer(context))
        return str(row["rollout_id"])

    @task.sensor(
        task_id="watch",
        mode="reschedule",
        poke_interval=rs.poll_interval.total_seconds(),
        timeout=(rs.max_duration * stages + timedelta(days=1)).total_seconds(),
    )
    def watch(rollout_id: str, **context: Any) -> Any:
        """Look at the evidence; act on every decision that is not ``wait``."""
        from mlstack.stages import rollout  # lazy: the statistics stay out of DAG parsing

        ro, ev, d = rollout.analyse(spec, rollout_id)
        if d.action == rollout.WAIT:
            log.info("%s: waiting (%s)", rollout_id, "; ".join(d.reasons))
            return PokeReturnValue(is_done=False)
        done = rollout.act(spec, ro, ev, d, actor=producer(context))
        if d.action == rollout.NEXT_STAGE:
            return PokeReturnValue(is_done=False)
        return PokeReturnValue(is_done=True, xcom_value=done)

    started: Any = start()
    return StageTasks.of("rollout", [started, watch(started)], spec)
