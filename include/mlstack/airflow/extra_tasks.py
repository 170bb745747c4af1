"""A use case's extra tasks in its generated DAGs: placed before or after a stage's tasks.

The spec's ``tasks:`` names ``tasks`` plugins and where they go; :func:`place` adds them to
the stage's DAG the factory just built. A task placed *before* runs first and every root task
of the stage waits on it; one placed *after* runs once the stage's last tasks are done
(trigger rule ``none_failed``: a stage that skipped its announcement still counts as done).
Each calls its plugin with a :class:`~mlstack.usecase_tasks.TaskContext`; a
:class:`~mlstack.exceptions.StopRun` fails the task without retries and names the reason,
so nothing downstream runs. The plugin is looked up when the task runs (the hooks file is
not imported at parse time).
"""

from __future__ import annotations

from typing import Any

from airflow.sdk import DAG, task
from airflow.sdk.exceptions import AirflowFailException

from mlstack.airflow.usecase_dag import run_day
from mlstack.specs import ExtraTaskSpec, UseCaseSpec


def _event_extras(context: dict[str, Any]) -> list[dict[str, Any]]:
    """Extras of the Asset events that triggered the run, oldest first ([] when none)."""
    try:
        triggering = context.get("triggering_asset_events") or {}
        return [dict(e.extra or {}) for events in triggering.values() for e in events]
    except Exception:  # a manual run or dag.test(): no triggering events to read
        return []


def run_extra(
    spec: UseCaseSpec, extra: ExtraTaskSpec, upstream: dict[str, Any], context: dict[str, Any]
) -> Any:
    """Call the plugin of ``extra`` with the run's :class:`TaskContext`; a StopRun fails the
    task for good with its reason."""
    from mlstack import plugins  # lazy: the hooks file is imported when the task runs
    from mlstack.exceptions import StopRun
    from mlstack.usecase_tasks import TaskContext

    plugins.load_for(spec)
    fn = plugins.get_for(spec, "tasks", extra.task, f"tasks[{extra.task_id}].task")
    ti = context["ti"]
    ctx = TaskContext(
        spec=spec,
        stage=extra.stage,
        position=extra.position,
        dag_id=ti.dag_id,
        run_id=ti.run_id,
        day=run_day(context),
        params=dict(context.get("params") or {}),
        events=_event_extras(context),
        upstream=upstream,
        options=dict(extra.options),
    )
    try:
        return fn(ctx)
    except StopRun as exc:
        raise AirflowFailException(
            f"{extra.task} ({extra.position} {extra.stage}) stopped {ti.dag_id}: {exc}"
        ) from exc


def _extra_task(spec: UseCaseSpec, extra: ExtraTaskSpec, upstream_ids: list[str]) -> Any:
    """The Airflow task that runs ``extra`` (pulling ``upstream_ids``' results when after)."""

    @task(
        task_id=extra.task_id,
        multiple_outputs=False,
        trigger_rule="none_failed" if extra.position == "after" else "all_success",
        doc_md=f"Extra task `{extra.task}` {extra.position} {extra.stage} (spec `tasks:`).",
    )
    def extra_task(**context: Any) -> Any:
        ti = context["ti"]
        upstream = {tid: ti.xcom_pull(task_ids=tid) for tid in upstream_ids}
        return run_extra(spec, extra, upstream, context)

    return extra_task()


def place(spec: UseCaseSpec, stage: str, dag: DAG) -> DAG:
    """Add the spec's extra tasks of ``stage`` to its DAG: before ones upstream of every root
    task (chained in spec order), after ones downstream of every leaf (one after another)."""
    before, after = spec.extra_tasks(stage, "before"), spec.extra_tasks(stage, "after")
    if not before and not after:
        return dag
    roots = [t for t in dag.tasks if not t.upstream_list]
    leaves = [t for t in dag.tasks if not t.downstream_list]
    with dag:
        previous: Any = None
        for extra in before:
            added = _extra_task(spec, extra, [])
            if previous is not None:
                previous >> added
            previous = added
        if previous is not None:
            previous >> roots
        upstream: list[Any] = leaves
        for extra in after:
            added = _extra_task(spec, extra, [t.task_id for t in upstream])
            upstream >> added
            upstream = [added]
    return dag
