"""Maturity levels and the automation each one switches on, per use case.

A spec's ``maturity:`` (1–5, default 3) says which parts of a use case's lifecycle run by
themselves; ``automation:`` overrides single switches. Monitoring is on at every level.

=====  ======================  ====================================================
level  name                    what it adds (the switch that turns it on)
=====  ======================  ====================================================
1      manual                  ingest, catalog, monitor; train, promote, roll out by
                               hand (CLI or a manually triggered DAG)
2      repeatable              the data pipeline on ``schedule`` (``scheduled_ingest``)
                               and the use case's own tests in CI
3      reproducible            training on ``training.schedule``
                               (``scheduled_training``), gated promotion of each new
                               candidate (``gated_promotion``)
4      automated               CI/CD deploy; the A/B rollout of each new challenger
                               (``ab_rollout``)
5      continuously improved   monitoring-triggered retraining: the guarded policy's
                               requests start training (``retrain_on_monitoring``)
=====  ======================  ====================================================

:func:`effective` resolves the switches; :func:`conflicts` explains a combination that makes
no sense (the spec model raises it when the spec is read). Nothing here reads a database:
the DAG factory calls it at parse time.
"""

from __future__ import annotations

from typing import Any

#: Level → (name, what it adds).
LEVELS: dict[int, tuple[str, str]] = {
    1: ("manual", "ingest, catalog and monitoring; training, promotion and rollout by hand"),
    2: ("repeatable", "a scheduled data pipeline and the use case's own tests in CI"),
    3: ("reproducible", "a scheduled training pipeline and gated registry promotion"),
    4: ("automated", "CI/CD deploy of the use case and automatic A/B rollout of challengers"),
    5: ("continuously improved", "monitoring-triggered retraining (the guarded policy)"),
}

#: Each automation switch and the level from which it is on by default.
SWITCHES: dict[str, int] = {
    "scheduled_ingest": 2,
    "scheduled_training": 3,
    "gated_promotion": 3,
    "ab_rollout": 4,
    "retrain_on_monitoring": 5,
}

DEFAULT_LEVEL = 3


def level_name(level: int) -> str:
    """``3 reproducible``."""
    return f"{level} {LEVELS[level][0]}"


def effective(level: int, overrides: dict[str, bool | None]) -> dict[str, bool]:
    """Every switch: the override when one is set, else whether ``level`` turns it on."""
    return {
        name: bool(overrides[name]) if overrides.get(name) is not None else level >= on_from
        for name, on_from in SWITCHES.items()
    }


def _why(level: int, overrides: dict[str, bool | None], switch: str) -> str:
    """Where a switch's value comes from, for a message: the override or the level."""
    if overrides.get(switch) is not None:
        return f"automation.{switch}: {str(overrides[switch]).lower()}"
    return f"maturity {level_name(level)}"


def conflicts(spec: Any) -> list[str]:
    """The combinations of level, switches and spec sections that make no sense, each as
    ``field: what is wrong; how to fix it`` ([] when the spec is consistent). ``spec`` is a
    :class:`~mlstack.specs.UseCaseSpec` being validated (not imported: specs imports this)."""
    level, over = spec.maturity, spec.automation.overrides()
    on = effective(level, over)
    out: list[str] = []
    if on["scheduled_ingest"] and spec.schedule is None:
        out.append(
            f"schedule: null, but {_why(level, over, 'scheduled_ingest')} runs the data "
            "pipeline on a schedule; set schedule (e.g. '@daily') or "
            "automation.scheduled_ingest: false"
        )
    if on["scheduled_training"]:
        if not on["scheduled_ingest"]:
            out.append(
                f"automation.scheduled_training: {_why(level, over, 'scheduled_training')} "
                "trains on a schedule, but the data pipeline runs only by hand "
                "(scheduled_ingest is off): every run would train on the same snapshot; "
                "turn automation.scheduled_ingest on or scheduled_training off"
            )
        if spec.training.schedule is None and not on["retrain_on_monitoring"]:
            out.append(
                f"training.schedule: null, but {_why(level, over, 'scheduled_training')} "
                "schedules training; set training.schedule (e.g. '@weekly') or "
                "automation.scheduled_training: false to train only by hand"
            )
    elif spec.training.schedule is not None:
        out.append(
            f"training.schedule: {spec.training.schedule!r} is never used: "
            f"{_why(level, over, 'scheduled_training')} trains only by hand; remove it, or "
            "set automation.scheduled_training: true (or maturity: 3)"
        )
    if on["retrain_on_monitoring"]:
        why = _why(level, over, "retrain_on_monitoring")
        if not spec.retraining.enabled:
            out.append(
                f"retraining.enabled: false, but {why} retrains when the policy asks; enable "
                "the policy or set automation.retrain_on_monitoring: false"
            )
        if spec.monitoring.schedule is None:
            out.append(
                f"monitoring.schedule: null, but {why} needs monitoring runs to ask for a "
                "retrain; set a monitoring schedule (e.g. '@daily')"
            )
        if not on["gated_promotion"]:
            out.append(
                f"automation.gated_promotion: false, but {why}: every retrained candidate "
                "would wait for someone to trigger its promotion; keep gated_promotion on "
                "(set promotion.require_approval: true to keep a human in the loop)"
            )
    return out
