"""Model lifecycle DAGs: training and registry promotion, built from each use case's spec.

``<usecase>__train``    on ``training.schedule`` (if any), on the Asset
                        ``retrain-request/<usecase>`` and by hand (params: snapshot ids,
                        ``retrain_request``): train on exact snapshots — on a request's
                        ``training_window`` when a request triggered the run — register alias
                        ``candidate`` (tagged with the request), emit the Asset
                        ``model-candidate/<usecase>`` with the version and its metrics.
``<usecase>__promote``  on that Asset: run the promotion gates against the champion, ask a
                        human when ``promotion.require_approval`` is set, move the aliases,
                        record the decision; a new challenger emits ``model-challenger/<usecase>``.

Only Airflow and mlstack's light modules are imported here; the stages (pandas, sklearn,
MLflow, pyiceberg) are imported inside the tasks.
"""

from __future__ import annotations

import json
import logging
from datetime import timedelta
from typing import Any

from airflow.sdk import DAG, Asset, Param, task

from mlstack.exceptions import NotEnoughData
from mlstack.specs import UseCaseSpec

log = logging.getLogger(__name__)


def retrain_request_asset(usecase: str) -> Asset:
    """The Asset the retraining policy emits to ask for a new model (extra = evidence)."""
    return Asset(name=f"retrain-request/{usecase}")


def candidate_asset(usecase: str) -> Asset:
    """The Asset training emits for each newly registered candidate version."""
    return Asset(
        name=f"model-candidate/{usecase}",
        uri=f"mlstack://models/{usecase}/candidate",
        group="model",
    )


def challenger_asset(usecase: str) -> Asset:
    """The Asset promotion emits when a version becomes ``challenger`` (the rollout's input)."""
    return Asset(
        name=f"model-challenger/{usecase}",
        uri=f"mlstack://models/{usecase}/challenger",
        group="model",
    )


def _train_schedule(spec: UseCaseSpec) -> Any:
    request = retrain_request_asset(spec.name)
    if not spec.training.schedule:
        return request
    from airflow.sdk.definitions.timetables.assets import AssetOrTimeSchedule
    from airflow.sdk.definitions.timetables.trigger import CronTriggerTimetable

    return AssetOrTimeSchedule(
        timetable=CronTriggerTimetable(spec.training.schedule, timezone="UTC"), assets=request
    )


def _snapshot_param(what: str) -> Param:
    return Param(
        None,
        type=["null", "integer"],
        description=f"{what} snapshot id to train on; empty = the current one",
    )


def _request(context: dict[str, Any], asset: Asset) -> dict[str, Any]:
    """The retrain request this run acts on ({} for scheduled and plain manual runs).

    A run the Asset triggered acts on its latest event, read through the task's inlet (the
    way that works under the scheduler and ``dag.test()`` alike). A manual run acts on one
    only when its ``retrain_request`` param says so: ``latest`` (the Asset's latest event)
    or a request id (read back from mlstack's ``retrain_requests`` table).
    """
    wanted = (context.get("params") or {}).get("retrain_request")
    if wanted in (None, ""):
        if run_type(context) != "asset_triggered":
            return {}
        wanted = "latest"
    if str(wanted).strip().lower() != "latest":
        from mlstack.stages import retrain

        return retrain.load_request(int(wanted))
    events = context["inlet_events"][asset]
    if not len(events):
        raise ValueError(f"no {asset.name} event to act on yet")
    return dict(events[-1].extra or {})


def run_type(context: dict[str, Any]) -> str:
    """``manual``, ``scheduled``, ``asset_triggered``, ... of the running DAG run."""
    run_type = context["dag_run"].run_type
    return str(getattr(run_type, "value", run_type))


def skips_when_data_short(run_type: str, *, requested: bool) -> bool:
    """Whether a train run with too little data skips instead of failing.

    Only a schedule's tick skips (a fresh stack's first weekly run has no labels yet); a
    human or a retrain request asked for a model, so they fail and say why.
    """
    return run_type == "scheduled" and not requested


def build_train(spec: UseCaseSpec) -> DAG:
    """``<usecase>__train``: exact snapshot → fit → MLflow run → alias candidate → Asset."""
    from mlstack.airflow import factory

    request = retrain_request_asset(spec.name)
    candidate = candidate_asset(spec.name)
    with factory.usecase_dag(
        spec,
        "train",
        "training",
        schedule=_train_schedule(spec),
        retries=1,
        params={
            "snapshot": _snapshot_param("Features"),
            "labels_snapshot": _snapshot_param("Labels"),
            "retrain_request": Param(
                None,
                type=["null", "string", "integer"],
                description="Act on a retrain request: 'latest' or its id (train on its "
                "training_window, tag the run with it); empty = none (runs the Asset "
                "triggered use the latest request by themselves)",
            ),
        },
    ) as dag:

        @task(
            task_id="train",
            inlets=[request],
            outlets=[candidate],
            execution_timeout=timedelta(hours=2),
        )
        def train_model(**context: Any) -> dict[str, Any]:
            """Train on exact snapshots and register the model with alias ``candidate``."""
            from mlstack.stages import retrain, train

            params = context.get("params") or {}
            req = _request(context, request)
            tags = {
                "mlstack.trigger": "retrain-request" if req else run_type(context),
                "mlstack.producer": factory.producer(context),
            }
            if req:
                tags["mlstack.request"] = json.dumps(req, default=str)[:4000]
                tags |= retrain.request_tags(req)
                log.info("Acting on retrain request %s: %s", req.get("request_id"), req)
            try:
                result = train.train(
                    spec,
                    snapshot_id=params.get("snapshot"),
                    labels_snapshot_id=params.get("labels_snapshot"),
                    run_tags=tags,
                    window=retrain.training_window(req) if req else None,
                )
            except NotEnoughData as exc:
                if not skips_when_data_short(run_type(context), requested=bool(req)):
                    raise
                from airflow.sdk.exceptions import AirflowSkipException

                raise AirflowSkipException(f"nothing to train on yet: {exc}") from exc
            extra = {
                "usecase": spec.name,
                "version": result.version,
                "run_id": result.run_id,
                "primary_metric": result.primary_metric,
                "value": result.metrics[f"holdout_{result.primary_metric}"],
                **result.snapshot.tags(),
            }
            context["outlet_events"][candidate].extra = extra
            return result.to_dict()

        train_model()
    return dag


def build_promote(spec: UseCaseSpec) -> DAG:
    """``<usecase>__promote``: gates vs champion → (approval) → aliases + audit → Asset."""
    from mlstack.airflow import factory

    candidate = candidate_asset(spec.name)
    challenger = challenger_asset(spec.name)
    with factory.usecase_dag(
        spec,
        "promote",
        "registry promotion",
        schedule=candidate,
        params={
            "version": Param(
                None,
                type=["null", "integer"],
                description="Version to gate; empty = alias candidate",
            )
        },
    ) as dag:

        @task(task_id="evaluate", inlets=[candidate])
        def evaluate(**context: Any) -> dict[str, Any]:
            """Gate the candidate against the champion on the same holdout rows.

            A decision that needs no human is applied (aliases, tags, audit) right here.
            """
            from airflow.sdk.exceptions import AirflowSkipException

            from mlstack import registry
            from mlstack.stages import promote

            version = (context.get("params") or {}).get("version")
            events = context["inlet_events"][candidate]
            if events:
                log.info("Latest candidate event: %s", events[-1].extra)
            if version is None and registry.get_alias(spec.name, promote.CANDIDATE) is None:
                raise AirflowSkipException(f"{spec.name} has no candidate awaiting a decision")
            decision = promote.evaluate(spec, version)
            if not decision.needs_approval:
                decision = promote.apply(spec, decision, actor=factory.producer(context))
            return decision.to_dict()

        @task(task_id="announce_challenger", outlets=[challenger])
        def announce(decision: dict[str, Any], **context: Any) -> dict[str, Any]:
            """Emit ``model-challenger/<usecase>`` when a version became challenger."""
            from airflow.sdk.exceptions import AirflowSkipException

            if decision.get("outcome") != "challenger" or decision.get("decision_id") is None:
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
        if spec.promotion.require_approval:
            finalized = _approval_steps(spec, decided)
            announce(finalized)
        else:
            announce(decided)
    return dag


def _approval_steps(spec: UseCaseSpec, decided: Any) -> Any:
    """needs_approval (short-circuit) → Approve/Reject (HITL) → approved → finalize."""
    from airflow.providers.standard.operators.empty import EmptyOperator
    from airflow.providers.standard.operators.hitl import ApprovalOperator

    from mlstack.airflow import factory

    @task.short_circuit(task_id="needs_approval", ignore_downstream_trigger_rules=False)
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

    @task(task_id="finalize", trigger_rule="all_done")
    def finalize(decision: dict[str, Any], **context: Any) -> dict[str, Any]:
        """Apply the decision the human made (a rejection or a timeout is recorded too)."""
        from mlstack.stages import promote

        if decision.get("decision_id") is not None or not decision.get("needs_approval"):
            return decision
        answer = context["ti"].xcom_pull(task_ids="approve") or {}
        chosen = (answer.get("chosen_options") or ["Reject"])[0]
        who = answer.get("responded_by_user") or answer.get("responded_by") or {}
        actor = (
            f"approval:{who.get('name') or who.get('id') or 'unknown'}"
            if who
            else factory.producer(context)
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
    return done


BUILDERS = (build_train, build_promote)
