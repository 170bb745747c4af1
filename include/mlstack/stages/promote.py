"""Promotion: gate a candidate against the champion, move registry aliases, record every decision.

:func:`evaluate` reads the candidate's recorded holdout back (same snapshots, same days),
scores candidate and champion on those *same rows* and runs the spec's gates:

- ``min_score``  the primary metric is not below the spec's floor;
- ``metric``     it beats the champion's by at least ``min_delta``;
- ``challenger`` and the current challenger's too, if there is one (it is not displaced
                 by a model that is no better);
- ``slices``     no value of a configured column loses more than its tolerance;
- ``signature``  the candidate needs no input the champion does not take;
- ``latency``    median single-row prediction time within ``max_latency_ms`` (p95 recorded).

:func:`apply` turns the outcome into aliases — first passing model → ``champion``, a later
passing one → ``challenger``, a failing one → nothing — and writes the decision with its
evidence as MLflow version tags, a row of ``promotion_decisions`` and a lineage edge. Every
model it loads, and every version it gives an alias, first passes
:mod:`mlstack.integrity`'s check; the promoted files' digest is recorded with the decision.
:func:`override` (a human's call, with a reason) and :func:`rollback` (previous champion
back) are recorded the same way.

A little over 500 lines: the gates and the three ways an alias moves (gates, override,
rollback) share one audit path.
"""

from __future__ import annotations

import logging
import time
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pandas as pd
import sqlalchemy as sa

from mlstack import integrity, model_records, modeling, plugins, registry, store
from mlstack.exceptions import ModelNotFound, PromotionRefused
from mlstack.settings import Settings, get_settings
from mlstack.specs import UseCaseSpec
from mlstack.stages import train
from mlstack.vocabulary import CANDIDATE, CHALLENGER, CHAMPION, json_safe

log = logging.getLogger(__name__)

REFUSED = "refused"
LATENCY_CALLS = 30


@dataclass
class Gate:
    """One gate's result and the evidence behind it."""

    name: str
    passed: bool
    detail: str
    evidence: dict[str, Any] = field(default_factory=dict)


@dataclass
class PromotionDecision:
    """The outcome for one model version, with every gate (or the override's reason)."""

    usecase: str
    version: int
    run_id: str | None
    outcome: str
    action: str = "gates"
    compared_with: int | None = None
    gates: list[Gate] = field(default_factory=list)
    reasons: list[str] = field(default_factory=list)
    metrics: dict[str, Any] = field(default_factory=dict)
    needs_approval: bool = False
    previous_champion: int | None = None
    decision_id: int | None = None

    @property
    def passed(self) -> bool:
        """True when the model was (or would be) given an alias."""
        return self.outcome != REFUSED

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe summary (XCom, Asset event extra, CLI)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PromotionDecision:
        """Rebuild a decision from :meth:`extra` (e.g. from XCom)."""
        gates = [Gate(**g) for g in data.get("gates", [])]
        return cls(**{**data, "gates": gates})


# --- evaluating ---------------------------------------------------------------------------


def _candidate(spec: UseCaseSpec, version: int | None, s: Settings) -> Any:
    if version is not None:
        return registry.get_version(spec.name, version, s)
    mv = registry.get_alias(spec.name, CANDIDATE, s)
    if mv is None:
        raise ModelNotFound(
            f"model {spec.name!r} has no {CANDIDATE!r} alias; train one (mlstack train "
            f"{spec.name}) or name a version"
        )
    return mv


def _holdout(spec: UseCaseSpec, tags: dict[str, str], s: Settings) -> pd.DataFrame:
    """The candidate's holdout rows, read back at its recorded snapshots."""
    try:
        fs = int(tags["mlstack.features_snapshot"])
        first, last = tags["mlstack.holdout_days"].split("..")
    except KeyError as exc:
        raise ModelNotFound(
            f"model version lacks tag {exc}; it was not trained by mlstack, so its holdout "
            "cannot be read back"
        ) from exc
    ls = tags.get("mlstack.labels_snapshot")
    frame, _ = train.load_frame(spec, fs, int(ls) if ls else None, s)
    return train.holdout_rows(spec, frame, first, last)


def _scores(spec: UseCaseSpec, model: Any, rows: pd.DataFrame, y: np.ndarray) -> dict[str, Any]:
    x = modeling.model_input(spec, rows)
    y_score, y_pred = modeling.predict(spec, model, x)
    metric = modeling.primary_metric(spec)
    slices = {
        sl.column: modeling.slice_scores(spec, rows, y, y_score, y_pred, sl.column, sl.min_rows)
        for sl in spec.promotion.slices
    }
    return {metric.name: metric(y, y_score, y_pred, spec.training), "slices": slices}


def latency_ms(spec: UseCaseSpec, model: Any, rows: pd.DataFrame) -> dict[str, float]:
    """Single-row prediction latency: p50 and p95 over LATENCY_CALLS calls (after warm-up).

    Measured on one thread, as a serving worker runs: native thread pools (OpenMP in
    gradient boosting) cost more to wake than one row takes to score.
    """
    from threadpoolctl import threadpool_limits

    x = modeling.model_input(spec, rows.head(LATENCY_CALLS + 3))
    times = []
    with threadpool_limits(1):
        for i in range(len(x)):
            t0 = time.perf_counter()
            modeling.predict(spec, model, x.iloc[[i]])
            if i >= 3:
                times.append((time.perf_counter() - t0) * 1000)
    return {"p50_ms": float(np.percentile(times, 50)), "p95_ms": float(np.percentile(times, 95))}


def _inputs(signature: Any) -> tuple[set[str], set[str]]:
    """(all input names, required input names) of a signature."""
    if signature is None or signature.inputs is None:
        return set(), set()
    cols = signature.inputs.inputs
    return {c.name for c in cols}, {c.name for c in cols if getattr(c, "required", True)}


def gate_signature(candidate_sig: Any, champion_sig: Any) -> Gate:
    """The candidate may not require an input the champion's callers do not send."""
    cand_all, cand_req = _inputs(candidate_sig)
    champ_all, _ = _inputs(champion_sig)
    missing = sorted(cand_req - champ_all)
    evidence = {"added": sorted(cand_all - champ_all), "removed": sorted(champ_all - cand_all)}
    if missing:
        return Gate(
            "signature", False, f"requires inputs the champion does not take: {missing}", evidence
        )
    return Gate("signature", True, "same required inputs as the champion", evidence)


def gate_slices(spec: UseCaseSpec, cand: dict[str, Any], champ: dict[str, Any]) -> Gate:
    """No slice value may lose more than its tolerance against the champion."""
    metric = modeling.primary_metric(spec)
    worse, compared = [], {}
    for sl in spec.promotion.slices:
        for value, c in cand["slices"].get(sl.column, {}).items():
            ref = champ["slices"].get(sl.column, {}).get(value)
            if ref is None:
                continue
            loss = -metric.improvement(c[metric.name], ref[metric.name])
            compared[f"{sl.column}={value}"] = {
                "candidate": c[metric.name],
                "champion": ref[metric.name],
                "loss": loss,
            }
            if loss > sl.tolerance:
                worse.append(
                    f"{sl.column}={value} {metric.name} {c[metric.name]:.4f} vs "
                    f"{ref[metric.name]:.4f} (loses {loss:.4f} > {sl.tolerance})"
                )
    if worse:
        return Gate("slices", False, "slice(s) worse than tolerated: " + "; ".join(worse), compared)
    return Gate("slices", True, f"{len(compared)} slice value(s) within tolerance", compared)


def gate_challenger(
    spec: UseCaseSpec,
    cand: dict[str, Any],
    version: int,
    rows: pd.DataFrame,
    y: np.ndarray,
    s: Settings,
) -> Gate:
    """Replacing the current challenger (maybe mid A/B test) needs a real improvement on it too."""
    metric = modeling.primary_metric(spec)
    other = _scores(spec, integrity.load_verified(spec, version, s).model, rows, y)[metric.name]
    delta = metric.improvement(cand[metric.name], other)
    return Gate(
        "challenger",
        delta >= spec.promotion.min_delta,
        f"{metric.name} {cand[metric.name]:.4f} vs challenger v{version} {other:.4f}: "
        f"improvement {delta:+.4f} (needs >= {spec.promotion.min_delta})",
        {"challenger": version, "value": other, "delta": delta},
    )


def evaluate(
    spec: UseCaseSpec, version: int | None = None, *, settings: Settings | None = None
) -> PromotionDecision:
    """Run the promotion gates for ``version`` (default: the ``candidate``); change nothing."""
    s = settings or get_settings()
    plugins.load_for(spec)
    cfg = spec.promotion
    metric = modeling.primary_metric(spec)
    mv = _candidate(spec, version, s)
    cand_v = int(mv.version)
    champ_mv = registry.get_alias(spec.name, CHAMPION, s)
    champ_v = int(champ_mv.version) if champ_mv else None
    if champ_v == cand_v:
        raise PromotionRefused(f"{spec.name} v{cand_v} is already the champion")
    rows = _holdout(spec, dict(mv.tags), s)
    y = train.target(spec, rows, "holdout")
    model = integrity.load_verified(spec, cand_v, s).model
    cand = _scores(spec, model, rows, y)
    gates: list[Gate] = []
    metrics: dict[str, Any] = {"holdout_rows": len(rows), "candidate": cand}
    if cfg.min_score is not None:
        gap = metric.improvement(cand[metric.name], cfg.min_score)
        gates.append(
            Gate(
                "min_score",
                gap >= 0,
                f"{metric.name} {cand[metric.name]:.4f} vs floor {cfg.min_score}",
                {"value": cand[metric.name], "floor": cfg.min_score},
            )
        )
    if champ_v is not None:
        champ_model = integrity.load_verified(spec, champ_v, s).model
        champ = _scores(spec, champ_model, rows, y)
        metrics["champion"] = champ
        delta = metric.improvement(cand[metric.name], champ[metric.name])
        gates.append(
            Gate(
                "metric",
                delta >= cfg.min_delta,
                f"{metric.name} {cand[metric.name]:.4f} vs champion v{champ_v} "
                f"{champ[metric.name]:.4f}: improvement {delta:+.4f} (needs >= {cfg.min_delta})",
                {
                    "candidate": cand[metric.name],
                    "champion": champ[metric.name],
                    "delta": delta,
                    "min_delta": cfg.min_delta,
                },
            )
        )
        gates.append(gate_slices(spec, cand, champ))
        chall_mv = registry.get_alias(spec.name, CHALLENGER, s)
        if chall_mv is not None and int(chall_mv.version) != cand_v:
            gates.append(gate_challenger(spec, cand, int(chall_mv.version), rows, y, s))
            metrics["challenger"] = gates[-1].evidence
        if cfg.require_signature_match:
            gates.append(
                gate_signature(
                    registry.signature_of(spec.name, cand_v, s),
                    registry.signature_of(spec.name, champ_v, s),
                )
            )
    else:
        gates.append(
            Gate(
                "metric",
                True,
                f"no champion yet; {metric.name} {cand[metric.name]:.4f}",
                {"candidate": cand[metric.name]},
            )
        )
    lat = latency_ms(spec, model, rows)
    gates.append(
        Gate(
            "latency",
            lat["p50_ms"] <= cfg.max_latency_ms,
            f"single-row median {lat['p50_ms']:.2f} ms, p95 {lat['p95_ms']:.2f} ms "
            f"(budget {cfg.max_latency_ms} ms for the median)",
            lat,
        )
    )
    failed = [g for g in gates if not g.passed]
    outcome = REFUSED if failed else (CHAMPION if champ_v is None else CHALLENGER)
    headline = next(g for g in gates if g.name == "metric")
    reasons = [f"{g.name}: {g.detail}" for g in failed] or [f"all gates passed; {headline.detail}"]
    return PromotionDecision(
        usecase=spec.name,
        version=cand_v,
        run_id=mv.run_id,
        outcome=outcome,
        compared_with=champ_v,
        gates=gates,
        reasons=reasons,
        metrics=metrics,
        needs_approval=cfg.require_approval and not failed,
        previous_champion=champ_v,
    )


# --- applying and recording ---------------------------------------------------------------


def _record(
    spec: UseCaseSpec, d: PromotionDecision, actor: str, s: Settings, digest: str | None
) -> int:
    """Audit row (with the promoted files' digest) + lineage edge; return the decision id."""
    from mlstack.stages import catalog

    now = datetime.now(UTC)
    with store.engine(s).begin() as conn:
        result = conn.execute(
            sa.insert(store.promotion_decisions).values(
                usecase=spec.name,
                model_version=d.version,
                run_id=d.run_id,
                action=d.action,
                outcome=d.outcome,
                compared_with=d.compared_with,
                previous_champion=d.previous_champion,
                reasons=d.reasons,
                gates=[asdict(g) for g in d.gates],
                metrics=json_safe(d.metrics),
                actor=actor,
                created_at=now,
                digest=digest,
            )
        )
        decision_id = int(result.inserted_primary_key[0])  # type: ignore[index]
        relation = "refused_as" if d.outcome == REFUSED else "promoted_to"
        target = f"alias:{spec.name}@{CHALLENGER if d.outcome == REFUSED else d.outcome}"
        catalog.add_edge(
            conn,
            f"model:{spec.name}/v{d.version}",
            relation,
            target,
            {"decision_id": decision_id, "action": d.action},
        )
    return decision_id


def _tag(spec: UseCaseSpec, d: PromotionDecision, actor: str, s: Settings) -> None:
    tags = {
        "mlstack.promotion": d.outcome,
        "mlstack.promotion_action": d.action,
        "mlstack.promotion_reason": "; ".join(d.reasons)[:4900],
        "mlstack.promotion_by": actor,
        "mlstack.promotion_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "mlstack.promotion_decision_id": d.decision_id,
    }
    if d.compared_with is not None:
        tags["mlstack.compared_with"] = d.compared_with
    tags.update({f"mlstack.gate.{g.name}": "passed" if g.passed else "failed" for g in d.gates})
    registry.set_tags(spec.name, d.version, tags, s)


def _move_aliases(spec: UseCaseSpec, d: PromotionDecision, s: Settings) -> None:
    if d.outcome == REFUSED:
        return
    registry.set_alias(spec.name, d.outcome, d.version, s)
    aliases = registry.aliases_of(spec.name, s)
    if d.outcome == CHAMPION and aliases.get(CHALLENGER) == d.version:
        registry.delete_alias(spec.name, CHALLENGER, s)


def apply(
    spec: UseCaseSpec,
    decision: PromotionDecision,
    *,
    actor: str = "mlstack",
    approved: bool | None = None,
    settings: Settings | None = None,
) -> PromotionDecision:
    """Make the decision real: aliases (unless refused), tags, audit row, lineage.

    ``approved=False`` (a human said no) turns a passing decision into a refusal.
    """
    s = settings or get_settings()
    d = PromotionDecision.from_dict(decision.to_dict())
    if approved is False and d.passed:
        d.outcome, d.reasons = REFUSED, [f"approval: rejected by {actor}", *d.reasons]
    elif d.needs_approval and approved is None:
        raise PromotionRefused(f"{spec.name} v{d.version} needs human approval before it moves")
    if d.outcome != CHAMPION:
        d.previous_champion = None
    # the files are checked before an alias moves: a version with no digest or changed
    # files raises ModelIntegrityError and keeps every alias where it was
    digest = integrity.verified_digest(spec, d.version, s) if d.passed else None
    _move_aliases(spec, d, s)
    if registry.aliases_of(spec.name, s).get(CANDIDATE) == d.version:
        registry.delete_alias(spec.name, CANDIDATE, s)
    d.decision_id = _record(spec, d, actor, s, digest)
    if digest is not None:
        integrity.note_promotion(spec.name, d.version, digest, d.decision_id, s)
    _tag(spec, d, actor, s)
    log.info("%s v%d: %s (%s)", spec.name, d.version, d.outcome, "; ".join(d.reasons))
    return d


def override(
    spec: UseCaseSpec,
    version: int,
    *,
    to: str = CHAMPION,
    reason: str,
    actor: str = "cli",
    settings: Settings | None = None,
) -> PromotionDecision:
    """A human puts ``version`` on ``to`` (champion or challenger) without gates; recorded."""
    s = settings or get_settings()
    if to not in (CHAMPION, CHALLENGER):
        raise PromotionRefused(f"--to must be {CHAMPION} or {CHALLENGER}, not {to!r}")
    if not reason.strip():
        raise PromotionRefused("an override needs a --reason; it is kept in the audit trail")
    mv = registry.get_version(spec.name, version, s)
    aliases = registry.aliases_of(spec.name, s)
    if aliases.get(to) == int(version):
        raise PromotionRefused(f"{spec.name} v{version} already is the {to}")
    champ = aliases.get(CHAMPION)
    d = PromotionDecision(
        usecase=spec.name,
        version=int(version),
        run_id=mv.run_id,
        outcome=to,
        action="override",
        compared_with=champ,
        reasons=[f"override: {reason}"],
        previous_champion=champ if to == CHAMPION else None,
    )
    return apply(spec, d, actor=actor, approved=True, settings=s)


def rollback(
    spec: UseCaseSpec,
    *,
    reason: str = "rollback",
    actor: str = "cli",
    settings: Settings | None = None,
) -> PromotionDecision:
    """Give ``champion`` back to the model that held it before the current one; recorded."""
    s = settings or get_settings()
    current = registry.aliases_of(spec.name, s).get(CHAMPION)
    if current is None:
        raise PromotionRefused(f"{spec.name} has no champion; nothing to roll back")
    target = _previous_champion(spec.name, current, s)
    if target is None:
        raise PromotionRefused(
            f"{spec.name} v{current} is the first champion on record; there is no previous "
            "champion to roll back to"
        )
    mv = registry.get_version(spec.name, target, s)
    d = PromotionDecision(
        usecase=spec.name,
        version=target,
        run_id=mv.run_id,
        outcome=CHAMPION,
        action="rollback",
        compared_with=current,
        reasons=[f"rollback from v{current}: {reason}"],
        previous_champion=_previous_champion(spec.name, target, s),
    )
    d = apply(spec, d, actor=actor, approved=True, settings=s)
    registry.set_tags(spec.name, current, {"mlstack.promotion": "rolled_back"}, s)
    return d


def _previous_champion(usecase: str, version: int, s: Settings) -> int | None:
    """The champion that ``version`` replaced when it last became champion."""
    c = store.promotion_decisions.c
    with store.engine(s).connect() as conn:
        row = conn.execute(
            sa.select(c.previous_champion)
            .where(c.usecase == usecase, c.model_version == version, c.outcome == CHAMPION)
            .order_by(c.id.desc())
            .limit(1)
        ).first()
    return int(row.previous_champion) if row and row.previous_champion is not None else None


def history(
    usecase: str, settings: Settings | None = None, *, limit: int = 50
) -> list[dict[str, Any]]:
    """The latest decisions of a use case, newest first (read by :mod:`mlstack.model_records`)."""
    return model_records.decisions(usecase, settings, limit=limit)


def list_models(spec: UseCaseSpec, settings: Settings | None = None) -> list[dict[str, Any]]:
    """Every registered version as MLflow has it: aliases, primary metric, snapshots and last
    decision (the lists read mlstack's record instead: :func:`model_records.list_models`)."""
    s = settings or get_settings()
    by_version: dict[int, list[str]] = {}
    for alias, v in registry.aliases_of(spec.name, s).items():
        by_version.setdefault(v, []).append(alias)
    return [
        model_records.version_row(
            int(mv.version),
            mv.run_id,
            dict(mv.tags),
            datetime.fromtimestamp(mv.creation_timestamp / 1000, UTC),
            by_version.get(int(mv.version), []),
        )
        for mv in registry.list_versions(spec.name, s)
    ]
