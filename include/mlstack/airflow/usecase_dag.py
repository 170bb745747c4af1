"""What every use-case DAG shares: its shape and the helpers its tasks read the run with.

:func:`usecase_dag` makes ``<usecase>__<stage>`` — one run at a time, no catch-up, tagged,
the spec's owner and retries, and ``doc_md`` from the spec plus the docstring of the module
that builds the stage, so the Airflow UI explains *that* DAG. Tasks read their run through
:func:`run_day`, :func:`run_type` and :func:`producer`. A stage's task factory returns a
:class:`StageTasks` (its first and last tasks), which ``>>`` chains to the next stage's in a
hand-written DAG. Every stage's builder module imports this one; it imports none of them.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from airflow.sdk import DAG, Param, TriggerRule
from airflow.sdk.exceptions import AirflowFailException

from mlstack.exceptions import SpecError
from mlstack.specs import UseCaseSpec

DEFAULT_START = datetime(2026, 1, 1, tzinfo=UTC)
RETRIES = 2


def default_args(spec: UseCaseSpec) -> dict[str, Any]:
    """Owner and retry policy shared by every task of a use case."""
    return {"owner": spec.owner, "retries": RETRIES, "retry_delay": timedelta(minutes=1)}


def simulator_start(spec: UseCaseSpec) -> datetime:
    """Start date of a daily DAG: the simulator's first day (demo use cases), else the default."""
    if spec.simulator is None:
        return DEFAULT_START
    return datetime.combine(spec.simulator.start, datetime.min.time(), UTC)


class BadParam(SpecError, AirflowFailException):
    """A DAG param the run cannot use (not a date, a range backwards or too long). The task
    fails at once, without its retries: a retry reads the same params."""


def run_day(context: dict[str, Any]) -> date:
    """The day a run works on: the ``day`` param, else the logical date, else today (UTC)."""
    param = (context.get("params") or {}).get("day")
    if param:
        try:
            return date.fromisoformat(str(param))
        except ValueError as exc:
            raise BadParam(f"DAG param day={param!r} is not a date; use YYYY-MM-DD") from exc
    for key in ("logical_date", "data_interval_start"):
        value = context.get(key)
        if value is not None:
            return value.date()
    return datetime.now(UTC).date()


#: The most days one run may take on through ``through`` (a year).
MAX_RUN_DAYS = 366


def run_days(context: dict[str, Any]) -> list[date]:
    """The days a run works on: :func:`run_day`, through the ``through`` param when given
    (inclusive; a catch-up of several days in one run, each day still its own commit)."""
    first = run_day(context)
    param = (context.get("params") or {}).get("through")
    if not param:
        return [first]
    try:
        last = date.fromisoformat(str(param))
    except ValueError as exc:
        raise BadParam(f"DAG param through={param!r} is not a date; use YYYY-MM-DD") from exc
    span = (last - first).days + 1
    if span < 1:
        raise BadParam(f"DAG param through={last} is before day={first}; give a later day")
    if span > MAX_RUN_DAYS:
        raise BadParam(
            f"days {first}..{last} are {span} days; one run takes at most {MAX_RUN_DAYS}: "
            "split the range over several runs"
        )
    return [first + timedelta(days=i) for i in range(span)]


def run_type(context: dict[str, Any]) -> str:
    """``manual``, ``scheduled``, ``asset_triggered``, ... of the running DAG run."""
    kind = context["dag_run"].run_type
    return str(getattr(kind, "value", kind))


def producer(context: dict[str, Any]) -> str:
    """Lineage name of the running job: ``<dag_id>/<task_id>``."""
    ti = context["ti"]
    return f"{ti.dag_id}/{ti.task_id}"


#: The JSON Schema dialect of the DAG params' schemas. Airflow validates a scheduled DAG's
#: params when it parses the DAG, and checks each schema against its dialect's meta-schema
#: first: draft-07's costs less than half of the default (2020-12), which counts over a
#: hundred DAGs (bench/bench_parse.py). What the params' keywords mean is the same.
PARAM_DIALECT = "http://json-schema.org/draft-07/schema#"


def run_param(types: list[str], description: str, **schema: Any) -> Param:
    """An optional DAG param (default empty) of JSON types ``types``, e.g. ``["null",
    "integer"]``, with more JSON Schema keywords in ``schema`` (``format="date"``)."""
    return Param(
        None, description=description, schema={"$schema": PARAM_DIALECT, "type": types, **schema}
    )


def day_param(what: str) -> Param:
    """The ``day`` param of a daily DAG: a date, empty = the run's logical date."""
    return run_param(
        ["null", "string"],
        f"Day to {what} (YYYY-MM-DD); empty = the run's logical date",
        format="date",
    )


def through_param(what: str) -> Param:
    """The ``through`` param of a daily DAG that can take a range of days in one run."""
    return run_param(
        ["null", "string"],
        f"Last day of a range to {what} in this run (YYYY-MM-DD, inclusive; each day its own "
        "commit); empty = only `day`",
        format="date",
    )


def dag_doc(spec: UseCaseSpec, what: str, doc: str) -> str:
    """``doc_md`` of a use case's DAG: the use case (name, description, owner, spec file),
    then ``doc`` — the docstring of the module that builds this stage's DAG."""
    return (
        f"### {spec.name}: {what}\n\n{spec.description.strip()}\n\nOwner: **{spec.owner}**. "
        f"Spec: `{spec.path}`.\n\n{doc.strip()}\n"
    )


def usecase_dag(
    spec: UseCaseSpec,
    stage: str,
    what: str,
    *,
    doc: str | None,
    schedule: Any,
    start_date: datetime = DEFAULT_START,
    params: dict[str, Param] | None = None,
    **default_arg_overrides: Any,
) -> DAG:
    """``<usecase>__<stage>``: one run at a time, no catch-up, tagged with the use case and
    the stage, the spec's owner and retries (``default_arg_overrides`` change them), and
    documented by ``doc`` (the stage module's ``__doc__``)."""
    return DAG(
        dag_id=f"{spec.name}__{stage}",
        schedule=schedule,
        start_date=start_date,
        catchup=False,
        max_active_runs=1,
        tags=["mlstack", spec.name, stage, *spec.tags],
        default_args={**default_args(spec), **default_arg_overrides},
        params=params or {},
        doc_md=dag_doc(spec, what, doc or ""),
    )


def apply_run_settings(tasks: Iterable[Any], spec: UseCaseSpec, stage: str) -> None:
    """Give every task of ``stage`` what the spec's ``stages.<stage>`` sets (retries,
    retry_delay, execution_timeout, pool, queue); it wins over mlstack's defaults and the
    stage's own time limit."""
    settings = spec.stages.get(stage)  # type: ignore[call-overload]
    if settings is None:
        return
    for task in tasks:
        for name, value in settings.task_args().items():
            setattr(task, name, value)


def _operator(task: Any) -> Any:
    """The operator behind a task: itself, or the operator of a ``@task`` call's XComArg."""
    return getattr(task, "operator", task)


@dataclass(frozen=True)
class StageTasks:
    """The tasks one stage's factory added to the DAG being defined: ``first`` (no upstream
    among them) and ``last`` (no downstream among them), plus the Assets they emit and consume.

    ``a >> b`` makes ``b``'s first tasks wait for ``a``'s last ones and gives them the trigger
    rule ``none_failed``: a stage that had nothing to do and skipped (no new challenger to
    announce, too little data on a schedule) does not stop the stages after it, a failed one
    does. Each stage skips by itself when there is nothing for it to act on.
    """

    stage: str
    tasks: tuple[Any, ...]

    @classmethod
    def of(cls, stage: str, tasks: Iterable[Any], spec: UseCaseSpec | None = None) -> StageTasks:
        """The stage made of ``tasks`` (operators or the XComArgs of ``@task`` calls); with
        ``spec``, run as its ``stages.<stage>`` section says (:func:`apply_run_settings`)."""
        made = cls(stage, tuple(_operator(t) for t in tasks))
        if spec is not None:
            apply_run_settings(made.tasks, spec, stage)
        return made

    @property
    def first(self) -> list[Any]:
        """The stage's tasks that wait on none of its others (where it starts)."""
        ids = {t.task_id for t in self.tasks}
        return [t for t in self.tasks if not ids & set(t.upstream_task_ids)]

    @property
    def last(self) -> list[Any]:
        """The stage's tasks none of its others wait on (where it ends)."""
        ids = {t.task_id for t in self.tasks}
        return [t for t in self.tasks if not ids & set(t.downstream_task_ids)]

    @property
    def emits(self) -> list[Any]:
        """The Assets the stage's tasks emit (their outlets)."""
        return _unique(a for t in self.tasks for a in t.outlets)

    @property
    def consumes(self) -> list[Any]:
        """The Assets the stage's tasks read events of (their inlets)."""
        return _unique(a for t in self.tasks for a in t.inlets)

    def __rshift__(self, other: StageTasks) -> StageTasks:
        """``other`` runs after this stage unless a task of it failed; returns ``other``."""
        for task in other.first:
            task.trigger_rule = TriggerRule.NONE_FAILED
            for upstream in self.last:
                upstream >> task
        return other


def _unique(items: Iterable[Any]) -> list[Any]:
    """``items`` without repeats, in order."""
    out: list[Any] = []
    for item in items:
        if item not in out:
            out.append(item)
    return out
