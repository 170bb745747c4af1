"""Retraining as a decision: the policy that turns monitoring evidence into (maybe) a request.

Evaluated after each monitoring run, in this order (the first rule that applies decides):

====  ===========================================================  ===========
rule  condition                                                    decision
====  ===========================================================  ===========
1     policy disabled                                              ``alert`` if anything
                                                                   is wrong, else ``none``
2     no performance evidence, but drift or quality issues         ``alert`` (drift alone
                                                                   never retrains)
3     nothing wrong                                                ``none``
4     performance dropped, but too few labels dated after the       ``blocked``
      change to learn the new situation from
5     a retrain was requested less than ``cooldown_days`` ago       ``blocked``
6     ``max_per_30_days`` retrains already requested                ``blocked``
7     otherwise                                                    ``retrain``
====  ===========================================================  ===========

*Performance evidence* is either a **realised** drop of the primary metric beyond
``metric_drop`` (against the champion's holdout value) resting on at least ``min_labels``
labelled rows, or an **estimated** drop (CBPE/DLE) beyond ``metric_drop`` on each of the last
``sustained_days`` days. A request carries its evidence and a root-cause summary (drifted
features ranked, quality issues, skew) and names the training window, which starts early
enough to include the post-change data. The request goes to the train DAG; the model it
produces passes promotion gates and an A/B rollout like any other.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from typing import Any, Literal

import sqlalchemy as sa

from mlstack import store
from mlstack.monitoring.bars import bar, higher_is_better, worse_than
from mlstack.settings import Settings
from mlstack.specs import RetrainingSpec, UseCaseSpec

log = logging.getLogger(__name__)

Decision = Literal["none", "alert", "blocked", "retrain"]


@dataclass(frozen=True)
class RetrainEvidence:
    """What one monitoring run found, as the policy needs it."""

    usecase: str
    run_date: date
    metric: str
    reference_value: float | None
    model_version: int | None = None
    realised_value: float | None = None
    labelled_rows: int = 0
    #: (day, estimated value) for recent days, oldest first, today included.
    estimated: list[tuple[date, float]] = field(default_factory=list)
    drifted_features: list[dict[str, Any]] = field(default_factory=list)
    quality_issues: list[str] = field(default_factory=list)
    skew: dict[str, float] = field(default_factory=dict)
    change_date: date | None = None
    fresh_labels: int = 0
    report_uri: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe form (dates as ISO strings)."""
        out = asdict(self)
        out["run_date"] = self.run_date.isoformat()
        out["change_date"] = self.change_date.isoformat() if self.change_date else None
        out["estimated"] = [[d.isoformat(), v] for d, v in self.estimated]
        return out


@dataclass(frozen=True)
class RetrainDecision:
    """The policy's verdict, its reasons and (for ``retrain``) the request's payload."""

    decision: Decision
    reasons: list[str]
    root_cause: str
    evidence: RetrainEvidence
    training_window: dict[str, str] | None = None
    #: Row id in ``retrain_requests`` once recorded (traces a model back to its request).
    request_id: int | None = None

    @property
    def reason(self) -> str:
        """All reasons on one line."""
        return "; ".join(self.reasons)

    def request(self) -> dict[str, Any]:
        """The retrain request (the Asset event's extra): evidence, root cause, window."""
        return {
            "request_id": self.request_id,
            "usecase": self.evidence.usecase,
            "decision": self.decision,
            "reason": self.reason,
            "root_cause": self.root_cause,
            "training_window": self.training_window,
            "evidence": self.evidence.to_dict(),
        }


def drop(metric: str, reference: float | None, value: float | None) -> float | None:
    """How much worse ``value`` is than ``reference`` (positive = worse), or None."""
    if reference is None or value is None or value != value or reference != reference:
        return None
    return reference - value if higher_is_better(metric) else value - reference


def root_cause(ev: RetrainEvidence, limit: int = 5) -> str:
    """One paragraph: ranked drifted features, quality issues and skew findings."""
    parts = []
    if ev.drifted_features:
        ranked = ", ".join(
            f"{d['column']} ({d['method']} {d['score']:.3g})" for d in ev.drifted_features[:limit]
        )
        parts.append(f"drifted features, most drifted first: {ranked}")
    if ev.quality_issues:
        parts.append("quality: " + "; ".join(ev.quality_issues[:limit]))
    skewed = {k: v for k, v in ev.skew.items() if v > 0}
    if skewed:
        parts.append(
            "training-serving skew: "
            + ", ".join(f"{k} {v:.1%}" for k, v in sorted(skewed.items(), key=lambda x: -x[1]))
        )
    if ev.change_date:
        parts.append(f"change first seen on {ev.change_date.isoformat()}")
    return ". ".join(parts) if parts else "no drift, quality issue or skew found"


def _performance_evidence(ev: RetrainEvidence, policy: RetrainingSpec) -> list[str]:
    """Reasons that show a performance drop (empty when there is none)."""
    found = []
    limit = bar(ev.metric, ev.reference_value, policy.metric_drop)
    realised = drop(ev.metric, ev.reference_value, ev.realised_value)
    enough = ev.labelled_rows >= policy.min_labels
    if realised is not None and worse_than(ev.metric, ev.realised_value, limit) and enough:
        found.append(
            f"realised {ev.metric} {ev.realised_value:.4f} is {realised:.4f} worse than the "
            f"champion's {ev.reference_value:.4f} on {ev.labelled_rows} labelled rows"
        )
    recent = ev.estimated[-policy.sustained_days :]
    if len(recent) >= policy.sustained_days and all(
        worse_than(ev.metric, v, limit) for _, v in recent
    ):
        found.append(
            f"estimated {ev.metric} worse than the champion's {ev.reference_value:.4f} by more "
            f"than {policy.metric_drop} for {policy.sustained_days} days in a row "
            f"(latest {recent[-1][1]:.4f})"
        )
    return found


def decide(
    ev: RetrainEvidence,
    policy: RetrainingSpec,
    past_retrains: list[date],
    *,
    training_days: int | None = None,
) -> RetrainDecision:
    """Apply the policy table to one run's evidence (``past_retrains``: dates of requests)."""
    cause = root_cause(ev)
    symptoms = bool(ev.drifted_features or ev.quality_issues)
    perf = _performance_evidence(ev, policy)

    def verdict(decision: Decision, reasons: list[str]) -> RetrainDecision:
        window = None
        if decision == "retrain":
            start = ev.change_date or ev.run_date
            days = training_days or 60
            window = {
                "start": (start - timedelta(days=days)).isoformat(),
                "end": ev.run_date.isoformat(),
                "includes_post_change_from": start.isoformat(),
            }
        return RetrainDecision(decision, reasons, cause, ev, window)

    if not policy.enabled:
        return verdict(
            "alert" if perf or symptoms else "none",
            ["retraining is disabled in the spec", *perf],
        )
    if not perf:
        if symptoms:
            return verdict(
                "alert",
                [
                    "drift or quality issues without a performance drop: alert only "
                    "(drift alone never retrains)"
                ],
            )
        return verdict("none", ["no performance drop, drift or quality issue"])
    if ev.fresh_labels < policy.min_fresh_labels:
        return verdict(
            "blocked",
            [
                *perf,
                f"waiting for labels covering the new period: {ev.fresh_labels} of "
                f"{policy.min_fresh_labels} labels dated on or after "
                f"{(ev.change_date or ev.run_date).isoformat()}",
            ],
        )
    recent = sorted(d for d in past_retrains if d <= ev.run_date)
    if recent and (ev.run_date - recent[-1]).days < policy.cooldown_days:
        return verdict(
            "blocked",
            [
                *perf,
                f"cooldown: last retrain requested on {recent[-1].isoformat()}, "
                f"{policy.cooldown_days} days must pass",
            ],
        )
    in_budget_window = [d for d in recent if (ev.run_date - d).days < 30]
    if len(in_budget_window) >= policy.max_per_30_days:
        return verdict(
            "blocked",
            [
                *perf,
                f"budget: {len(in_budget_window)} retrains in the last 30 days "
                f"(max {policy.max_per_30_days})",
            ],
        )
    return verdict("retrain", perf)


# --- persistence ----------------------------------------------------------------------------


def past_retrains(usecase: str, settings: Settings | None = None) -> list[date]:
    """Dates of retrain requests sent for ``usecase`` (newest last)."""
    t = store.retrain_requests
    with store.engine(settings).connect() as conn:
        rows = conn.execute(
            sa.select(t.c.run_date)
            .where(t.c.usecase == usecase, t.c.decision == "retrain")
            .order_by(t.c.run_date)
        ).all()
    return [r[0] for r in rows]


def record(decision: RetrainDecision, settings: Settings | None = None) -> int:
    """Store a decision (every decision, so the audit shows why nothing happened too)."""
    t = store.retrain_requests
    ev = decision.evidence
    with store.engine(settings).begin() as conn:
        conn.execute(
            t.delete().where(t.c.usecase == ev.usecase, t.c.run_date == ev.run_date)
        )  # a re-run of the same day replaces its decision
        result = conn.execute(
            t.insert().values(
                usecase=ev.usecase,
                model_version=ev.model_version,
                run_date=ev.run_date,
                decision=decision.decision,
                reason=decision.reason,
                evidence=decision.request(),
                created_at=datetime.now(UTC),
            )
        )
        key = result.inserted_primary_key
        request_id = int(key[0]) if key else 0
        conn.execute(  # the stored request names its own id, like the Asset event's extra
            t.update()
            .where(t.c.id == request_id)
            .values(evidence=replace(decision, request_id=request_id).request())
        )
    log.info(
        "Retrain policy for %s on %s: %s (%s)",
        ev.usecase,
        ev.run_date,
        decision.decision,
        decision.reason,
    )
    return request_id


def evaluate(
    spec: UseCaseSpec, ev: RetrainEvidence, settings: Settings | None = None
) -> RetrainDecision:
    """Decide with the spec's policy and this use case's history, and record the decision."""
    history = [d for d in past_retrains(spec.name, settings) if d != ev.run_date]
    result = decide(ev, spec.retraining, history, training_days=spec.training.split.window_days)
    return replace(result, request_id=record(result, settings))


# --- the request, as training reads it ------------------------------------------------------


def load_request(request_id: int, settings: Settings | None = None) -> dict[str, Any]:
    """A recorded request (the Asset event's extra) by its id; fails when it is no retrain."""
    t = store.retrain_requests
    with store.engine(settings).connect() as conn:
        row = conn.execute(
            sa.select(t.c.decision, t.c.evidence).where(t.c.id == int(request_id))
        ).first()
    if row is None or row.decision != "retrain":
        raise LookupError(f"no retrain request with id {request_id}")
    return {**dict(row.evidence), "request_id": int(request_id)}


def training_window(request: dict[str, Any]) -> tuple[date, date] | None:
    """The (first, last) day a request asks training to use, or None when it names none."""
    window = request.get("training_window") or {}
    if not window.get("start") or not window.get("end"):
        return None
    return date.fromisoformat(window["start"]), date.fromisoformat(window["end"])


def request_tags(request: dict[str, Any]) -> dict[str, str]:
    """MLflow run/version tags that trace a model back to the request that caused it."""
    ev = request.get("evidence") or {}
    window = request.get("training_window") or {}
    tags = {
        "mlstack.retrain_request.id": str(request.get("request_id")),
        "mlstack.retrain_request.run_date": str(ev.get("run_date")),
        "mlstack.retrain_request.model_version": str(ev.get("model_version")),
        "mlstack.retrain_request.window": f"{window.get('start')}..{window.get('end')}",
        "mlstack.retrain_request.change_date": str(ev.get("change_date")),
        "mlstack.retrain_request.reason": str(request.get("reason", ""))[:4000],
        "mlstack.retrain_request.root_cause": str(request.get("root_cause", ""))[:4000],
    }
    return tags
