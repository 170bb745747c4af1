"""What ``mlstack usecases validate`` checks beyond the spec's own model: every name a spec
gives a plugin, resolved against the registry with the use case's hooks and installed
packages loaded — sources and their options, the simulator, the estimator (plugin name, or
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

    sources = [("source", spec.source)]
    if spec.labels is not None:
        sources.append(("labels.source", spec.labels.source))
    for where, source_spec in sources:
        source = known("sources", source_spec.kind, f"{where}.kind")
        model = getattr(source, "options_model", None)
        if model is not None:
            problems += [f"{where}.{p}" for p in options_problems(model, source_spec.options)]
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
