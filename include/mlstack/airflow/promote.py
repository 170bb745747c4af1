"""``<usecase>__promote``: the registry promotion of a new candidate.

Scheduled on the Asset ``model-candidate/<usecase>`` that ``<usecase>__train`` emits
(maturity 3 and up, or ``automation.gated_promotion``), and by hand (param ``version``;
empty = alias ``candidate``). ``evaluate`` runs the promotion gates (metric, slices,
latency, ...) against the champion on the same holdout rows; a decision that needs no human
is applied right there — aliases moved, tags set, the decision recorded. When
the spec sets ``promotion.require_approval``, a passing decision waits for a human instead
(Airflow's HITL ``approve`` task; a timeout counts as a rejection) and ``finalize`` records
either answer. A version that became ``challenger`` is announced with the Asset
``model-challenger/<usecase>``, which schedules ``<usecase>__rollout``.

Parse time stays cheap: the registry and the promotion stage (MLflow) are imported inside
the tasks.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from airflow.sdk import DAG, task
from airflow.sdk.exceptions import AirflowSkipException

from mlstack.airflow.assets import candidate_asset, challenger_asset
from mlstack.airflow.usecase_dag import StageTasks, producer, run_param, usecase_dag
from mlstack.specs import UseCaseSpec

log = logging.getLogger(__name__)


def build_promote(spec: UseCaseSpec) -> DAG:
    """``<usecase>__promote``: gates vs champion → (approval) → aliases + audit → Asset."""
    with usecase_dag(
        spec,
        "promote",
        "registry promotion",
        doc=__doc__,
        schedule=candidate_asset(spec.name) if spec.switches()["gated_promotion"] else None,
        params={
            "version": run_param(["null", "integer"], "Version to gate; empty = alias candidate")
        },
    ) as dag:
        promote_tasks(spec)
    return dag


def promote_tasks(spec: UseCaseSpec) -> StageTasks:
    """In the DAG being defined: ``evaluate`` (the param ``version`` when the DAG has it, else
    alias ``candidate``), the approval steps when the spec requires approval, then
    ``announce_challenger``, which emits ``model-challenger/<usecase>`` (skipped when no
    version became challenger)."""
    candidate = candidate_asset(spec.name)
    challenger = challenger_asset(spec.name)

    @task(task_id="evaluate", inlets=[candidate], multiple_outputs=True)
    def evaluate(**context: Any) -> dict[str, Any]:
        """Gate the candidate against the champion on the same holdout rows.

        A decision that needs no human is applied (aliases, tags, audit) right here.
        """
        # lazy: MLflow and the model libraries stay out of DAG parsing
        from mlstack import registry
        from mlstack.stages import promote
        from mlstack.vocabulary import CANDIDATE

        version = (context.get("params") or {}).get("version")
        events = context["inlet_events"][candidate]
        if events:
            log.info("Latest candidate event: %s", events[-1].extra)
        if version is None and registry.get_alias(spec.name, CANDIDATE) is None:
            raise AirflowSkipException(f"{spec.name} has no candidate awaiting a decision")
        decision = promote.evaluate(spec, version)
        if not decision.needs_approval:
            decision = promote.apply(spec, decision, actor=producer(context))
        return decision.to_dict()

    @task(task_id="announce_challenger", outlets=[challenger], multiple_outputs=True)
    def announce(decision: dict[str, Any], **context: Any) -> dict[str, Any]:
        """Emit ``model-challenger/<usecase>`` when a version became challenger."""
        from mlstack.vocabulary import CHALLENGER  # lazy: numpy stays out of DAG parsing

        if decision.get("outcome") != CHALLENGER or decision.get("decision_id") is None:
            raise AirflowSkipException(f"no new challenger (outcome {decision.get('outcome')})")
        extra = {
            "usecase": spec.name,
            "version": decision["version"],
            "run_id": decision["run_id"],
            "champion": decision["compared_with"],
        }
        context["outlet_events"][challenger].extra = extra
        return extra

    decided: Any = evaluate()
    if not spec.promotion.require_approval:
        return StageTasks.of("promote", [decided, announce(decided)], spec)
    steps, finalized = _approval_steps(spec, decided)
    return StageTasks.of("promote", [decided, *steps, announce(finalized)], spec)


def _approval_steps(spec: UseCaseSpec, decided: Any) -> tuple[list[Any], Any]:
    """needs_approval (short-circuit) → Approve/Reject (HITL) → approved → finalize: the
    tasks, and finalize's result."""
    # lazy: only specs that ask for approval pay for importing the HITL operator at parse time
    from airflow.providers.standard.operators.empty import EmptyOperator
    from airflow.providers.standard.operators.hitl import ApprovalOperator

    @task.short_circuit(
        task_id="needs_approval", ignore_downstream_trigger_rules=False, multiple_outputs=False
    )
    def needs_approval(decision: dict[str, Any]) -> bool:
        """Only a passing, not yet applied decision goes to a human."""
        return bool(decision.get("needs_approval")) and decision.get("decision_id") is None

    approve = ApprovalOperator(
        task_id="approve",
        subject=f"Promote {spec.name} v{{{{ ti.xcom_pull(task_ids='evaluate')['version'] }}}} "
        f"to {{{{ ti.xcom_pull(task_ids='evaluate')['outcome'] }}}}?",
        body="{{ ti.xcom_pull(task_ids='evaluate')['reasons'] | join('\n') }}",
        response_timeout=timedelta(hours=spec.promotion.approval_timeout_hours),
        defaults="Reject",
    )
    approved = EmptyOperator(task_id="approved")

    @task(task_id="finalize", trigger_rule="all_done", multiple_outputs=True)
    def finalize(decision: dict[str, Any], **context: Any) -> dict[str, Any]:
        """Apply the decision the human made (a rejection or a timeout is recorded too)."""
        from mlstack.stages import promote  # lazy: MLflow

        if decision.get("decision_id") is not None or not decision.get("needs_approval"):
            return decision
        answer = context["ti"].xcom_pull(task_ids="approve") or {}
        chosen = (answer.get("chosen_options") or ["Reject"])[0]
        who = answer.get("responded_by_user") or answer.get("responded_by") or {}
        actor = (
            f"approval:{who.get('name') or who.get('id') or 'unknown'}"
            if who
            else producer(context)
        )
        d = promote.apply(
            spec,
            promote.PromotionDecision.from_dict(decision),
            actor=actor,
            approved=chosen == "Approve",
        )
        return d.to_dict()

    gate = needs_approval(decided)
    done = finalize(decided)
    gate >> approve >> approved >> done
    return [gate, approve, approved, done], done
