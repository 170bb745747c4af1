"""What ``mlstack usecases validate`` checks beyond the spec's own model: every name a spec
gives a plugin, resolved against the registry with the use case's hooks and installed
packages loaded — sources and their options (a ``sql`` source's day column among the
dataset's date/timestamp columns), the simulator, the estimator (plugin name, or
an importable class, and its params), transforms, notifiers, extra tasks, metrics and the task they
are for, and the metric the retrain policy watches. Each problem is one ``field: ...`` line
naming the value and what is allowed.
"""

from __future__ import annotations

from typing import Any

from mlstack import modeling, plugins
from mlstack.exceptions import PluginError
from mlstack.monitoring.bars import SUPPORTED
from mlstack.sources import options_problems
from mlstack.specs import UseCaseSpec


def spec_problems(spec: UseCaseSpec) -> list[str]:
    """Every name a spec gives a plugin, checked against the registry (with the use case's
    hooks and installed packages loaded): one ``field: problem`` line each, [] if none.

    Checks sources (and their options), the simulator, the estimator (plugin name or an
    importable class, with its params), transforms, notifiers and metrics (known, and for
    the use case's task).
    """
    plugins.load_for(spec)
    registry = {kind: plugins.registered(kind) for kind in plugins.KINDS}
    problems: list[str] = []

    def known(kind: str, name: str, where: str) -> Any:
        if name in registry[kind]:
            return registry[kind][name]
        listed = ", ".join(sorted(registry[kind])) or "(none)"
        problems.append(f"{where}: unknown {kind} plugin {name!r}; known {kind}: {listed}")
        return None

    sources = [("source", "features", spec.source)]
    if spec.labels is not None:
        sources.append(("labels.source", "labels", spec.labels.source))
    for where, dataset, source_spec in sources:
        source = known("sources", source_spec.kind, f"{where}.kind")
        model = getattr(source, "options_model", None)
        if model is not None:
            problems += [f"{where}.{p}" for p in options_problems(model, source_spec.options)]
        if source_spec.kind == "sql":
            problems += _day_column_problems(spec, dataset, where, source_spec.options)
    if spec.simulator is not None:
        known("simulators", spec.simulator.plugin, "simulator.plugin")
    problems += _estimator_problems(spec, registry)
    for i, name in enumerate(spec.training.transforms):
        known("transforms", name, f"training.transforms[{i}]")
    known("notifiers", spec.rollout.notifier, "rollout.notifier")
    for i, notifier in enumerate(spec.monitoring.notifiers):
        known("notifiers", notifier.kind, f"monitoring.notifiers[{i}].kind")
    for i, extra in enumerate(spec.tasks):
        known("tasks", extra.task, f"tasks[{i}].task")
    metrics: list[tuple[str, str | None]] = [
        ("training.primary_metric", spec.training.primary_metric)
    ]
    metrics += [(f"training.metrics[{i}]", m) for i, m in enumerate(spec.training.metrics)]
    for where, metric_name in metrics:
        if metric_name is None:
            continue
        name = metric_name
        metric = known("metrics", name, where)
        task = getattr(metric, "task", spec.task)
        if metric is not None and task != spec.task:
            same = sorted(n for n, m in registry["metrics"].items() if m.task == spec.task)
            problems.append(
                f"{where}: metric {name!r} is for {task}, not {spec.task}; use one of {same}"
            )
    watched = spec.retraining.metric
    if watched is not None and watched not in SUPPORTED[spec.task]:
        problems.append(
            f"retraining.metric: {watched!r} cannot be watched for {spec.task}; "
            f"allowed: {list(SUPPORTED[spec.task])}"
        )
    return problems


def _day_column_problems(
    spec: UseCaseSpec, dataset: str, where: str, options: dict[str, Any]
) -> list[str]:
    """A ``sql`` source's ``day_column`` must be a date or timestamp column of its dataset."""
    column = options.get("day_column")
    if not isinstance(column, str):
        return []
    columns = spec.dataset_schema(dataset).columns
    if column not in columns:
        return [
            f"{where}.options.day_column: {column!r} is not a column of the {dataset} schema; "
            f"columns are: {sorted(columns)} (default: the timestamp column)"
        ]
    if columns[column].type not in ("date", "timestamp"):
        return [
            f"{where}.options.day_column: {column!r} is a {columns[column].type} column; a day "
            "is selected by a date or timestamp column"
        ]
    return []


def _estimator_problems(spec: UseCaseSpec, registry: dict[str, dict[str, Any]]) -> list[str]:
    """The estimator must be a models plugin or an importable class, and take its params."""
    model = spec.training.model
    if model is None:
        return []
    name, where = model.estimator, "training.model.estimator"
    if "." not in name and name not in registry["models"]:
        listed = ", ".join(sorted(registry["models"]))
        return [
            f"{where}: unknown estimator {name!r}: not a models plugin ({listed}) nor an "
            "import path like sklearn.linear_model.LogisticRegression"
        ]
    try:
        modeling.build_estimator(spec)
    except PluginError as exc:
        cause = exc.__cause__ if isinstance(exc.__cause__, PluginError) else exc
        field = "training.model.params" if "bad params" in str(cause) else where
        return [f"{field}: {cause}"]
    return []
