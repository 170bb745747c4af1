"""Rollout: plan a challenger's stages, gather its evidence, test it, decide and act.

Statistics (pure functions, numpy/scipy only):

- :func:`srm_test` — sample ratio mismatch, tested sequentially: the Dirichlet-multinomial
  mixture Bayes factor of Lindon & Malek ("Anytime-valid inference for multinomial count
  data", 2022) of the observed unit counts against the configured split. Its p-value
  (``1/BF``) is anytime-valid: halting at the first of any number of looks where it falls
  under ``alpha`` happens with probability at most ``alpha`` when the split is right. A
  mismatch means the assignment or the logging is broken, so no metric can be trusted; the
  rollout halts.
- :func:`srm_units` — what the SRM counts: *distinct units* (the entity id, else the
  prediction id), since the gateway assigns an entity, not a request, to a variant (counting
  requests of repeated entities breaks the test's independence), each unit once, in the
  variant it was assigned to (a challenger failure the champion answered is the
  challenger's unit, not the champion's).
- :func:`msprt` — the mixture sequential probability ratio test (Johari et al., "Always
  valid inference", 2017) on the difference of per-row means, with a normal mixture
  ``N(0, tau^2)``. It yields an always-valid p-value and a confidence sequence: looking at
  every stage (or every hour) keeps the false-positive rate at or under ``alpha``.
- :func:`guardrails` — challenger error rate and p99 latency against fixed budgets.
- :func:`decide` — next stage, promote, roll back, halt or wait, with its reasons.

The per-row metric is a loss (log loss for classification, squared error for regression;
lower is better), and business value per decision when the spec has a cost matrix.

Long (~780 lines) because the statistics (assignment, sequential SRM, mSPRT, guardrails)
sit beside the rollout's life (start, look, act); splitting the statistics into a module of
their own is the next step.
"""

from __future__ import annotations

import hashlib
import html
import json
import logging
import math
import uuid
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pandas as pd
import sqlalchemy as sa

from mlstack import registry, store
from mlstack.exceptions import RolloutError
from mlstack.monitoring import report_keys
from mlstack.settings import Settings, get_settings
from mlstack.specs import RolloutSpec, UseCaseSpec
from mlstack.stages import rollout_records
from mlstack.vocabulary import CHALLENGER, CHAMPION, SHADOW, json_safe

log = logging.getLogger(__name__)

WAIT, NEXT_STAGE, PROMOTE, ROLLBACK, HALT = "wait", "next_stage", "promote", "rollback", "halt"
RUNNING = rollout_records.RUNNING
# the reads live in rollout_records (no numpy, pandas or MLflow); named here as before
running = rollout_records.running
status = rollout_records.status
FINAL_STATES = {PROMOTE: "promoted", ROLLBACK: "rolled_back", HALT: "halted"}


# --- plan and assignment -------------------------------------------------------------------


@dataclass(frozen=True)
class Stage:
    """One stage: the challenger's traffic share, and whether it only scores in shadow."""

    name: str
    traffic: float
    shadow: bool = False


def plan(spec: RolloutSpec) -> list[Stage]:
    """The stages of a rollout: an optional shadow stage, then the A/B shares."""
    stages = [Stage("shadow", 0.0, True)] if spec.mode == "shadow" else []
    stages += [Stage(f"{round(share * 100, 2):g}%", share) for share in spec.stages]
    return stages


def bucket(rollout_id: str, entity_id: str) -> float:
    """Deterministic position in [0, 1) of an entity in a rollout (same entity, same bucket)."""
    digest = hashlib.blake2b(f"{rollout_id}:{entity_id}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2.0**64


def assign(rollout_id: str, entity_id: str, traffic: float) -> str:
    """``challenger`` for the first ``traffic`` share of buckets, else ``champion``."""
    return CHALLENGER if bucket(rollout_id, entity_id) < traffic else CHAMPION


# --- statistics ----------------------------------------------------------------------------


#: Concentration ``c`` of the SRM test's Dirichlet mixture ``Dir(c * expected_share)``: its
#: prior standard deviation of a share ``p`` is about ``sqrt(p (1 - p) / c)`` (1.6 points at
#: p = 0.5), the size of mismatch the test is most sensitive to. See bench/bench_srm.py.
SRM_CONCENTRATION = 1000.0


@dataclass(frozen=True)
class SrmResult:
    """Sequential SRM test of observed unit counts against the expected split.

    ``statistic`` is the log Bayes factor of a mismatch; ``p_value`` its anytime-valid
    p-value ``min(1, 1/BF)``; ``mismatch`` when ``p_value <= alpha``.
    """

    counts: dict[str, int]
    expected_share: dict[str, float]
    statistic: float
    p_value: float
    mismatch: bool
    alpha: float = 0.0


def srm_test(
    counts: dict[str, int],
    expected_share: dict[str, float],
    alpha: float,
    *,
    concentration: float = SRM_CONCENTRATION,
) -> SrmResult:
    """Sample ratio mismatch: anytime-valid Dirichlet-multinomial test; mismatch when p <= alpha.

    Under the null the counts are multinomial with the expected shares ``p``; the alternative
    mixes multinomials over ``Dir(a)``, ``a = concentration * p``. The Bayes factor of the
    cumulative counts ``x`` (``n`` in all) is
    ``Γ(Σa)/Γ(Σa+n) · Π Γ(a_i+x_i)/Γ(a_i) / Π p_i^x_i``, a nonnegative martingale under the
    null, so by Ville's inequality it ever reaches ``1/alpha`` with probability at most
    ``alpha``: the test may be repeated at every look on the growing counts. The counts must
    be of independent units (see :func:`srm_units`), not of requests.
    """
    from scipy.special import gammaln, xlogy

    names = sorted(expected_share)
    x = np.array([counts.get(n, 0) for n in names], dtype=float)
    total = x.sum()
    if total == 0:
        return SrmResult(dict(counts), dict(expected_share), 0.0, 1.0, False, alpha)
    shares = np.array([expected_share[n] for n in names], dtype=float)
    p0 = shares / shares.sum()
    if np.any(x[p0 == 0] > 0):  # counts where none are expected: a mismatch for certain
        return SrmResult(dict(counts), dict(expected_share), math.inf, 0.0, True, alpha)
    keep = p0 > 0
    x, p0 = x[keep], p0[keep]
    a = concentration * p0
    log_bf = float(
        gammaln(a.sum())
        - gammaln(a.sum() + total)
        + np.sum(gammaln(a + x) - gammaln(a))
        - np.sum(xlogy(x, p0))
    )
    p = 1.0 if log_bf <= 0 else (math.exp(-log_bf) if log_bf < 700 else 0.0)
    return SrmResult(dict(counts), dict(expected_share), log_bf, p, p <= alpha, alpha)


@dataclass(frozen=True)
class SrmUnits:
    """What the SRM of one A/B stage counts, and the challenger failures found on the way."""

    units: dict[str, int]  # distinct units per assigned variant
    fallback_rows: int  # rows the champion answered for a failing challenger
    units_in_both: int  # units logged under both variants (a gateway bug if not 0)


def srm_units(
    rows: pd.DataFrame, rollout_id: str, traffic: float, *, challenger_failed: bool
) -> SrmUnits:
    """Distinct units per variant an A/B stage assigned them to (rows: one stage, no shadow).

    A unit is the entity id, else the prediction id (the key the gateway hashes). When the
    challenger failed in the stage (``challenger_failed``: it logged errors), the gateway
    answered its records with the champion and logged them as champion rows; a champion
    row whose unit :func:`assign` puts in the challenger is such a fallback and counts for
    the challenger. Without logged errors no row is moved, so a gateway that routes units
    to the wrong variant still shows up as a mismatch.
    """
    if rows.empty:
        return SrmUnits({CHAMPION: 0, CHALLENGER: 0}, 0, 0)
    unit = rows["entity_id"].where(rows["entity_id"].notna(), rows["prediction_id"]).astype(str)
    variant = rows["variant"].to_numpy(dtype=object).copy()
    fallback = np.zeros(len(rows), dtype=bool)
    if challenger_failed:
        champ_units = pd.unique(unit[variant == CHAMPION])
        moved = {u for u in champ_units if assign(rollout_id, u, traffic) == CHALLENGER}
        fallback = (variant == CHAMPION) & unit.isin(moved).to_numpy()
        variant[fallback] = CHALLENGER
    pairs = pd.DataFrame({"unit": unit.to_numpy(), "variant": variant}).drop_duplicates()
    per_variant = pairs["variant"].value_counts()
    both = int(pairs["unit"].duplicated().sum())
    return SrmUnits(
        {v: int(per_variant.get(v, 0)) for v in (CHAMPION, CHALLENGER)},
        int(fallback.sum()),
        both,
    )


@dataclass(frozen=True)
class SequentialResult:
    """mSPRT on ``mean(b) - mean(a)``: estimate, confidence sequence and always-valid p."""

    n_a: int
    n_b: int
    mean_a: float
    mean_b: float
    difference: float
    lower: float
    upper: float
    p_value: float
    significant: bool


def msprt(a: np.ndarray, b: np.ndarray, alpha: float, effect_size: float) -> SequentialResult:
    """Always-valid two-sample test of the difference of means (normal mixture mSPRT).

    With ``V = s_a^2/n_a + s_b^2/n_b`` and mixture variance ``tau^2`` (``effect_size`` times
    the pooled standard deviation, squared), the mixture likelihood ratio is
    ``sqrt(V/(V+tau^2)) * exp(d^2 tau^2 / (2 V (V+tau^2)))``; the p-value is its inverse
    (capped at 1) and the confidence sequence is every difference the test would not reject.
    """
    a = np.asarray(a, dtype=float)
    b = np.asarray(b, dtype=float)
    n_a, n_b = len(a), len(b)
    if n_a < 2 or n_b < 2:
        mean_a = float(a.mean()) if n_a else math.nan
        mean_b = float(b.mean()) if n_b else math.nan
        return SequentialResult(
            n_a, n_b, mean_a, mean_b, mean_b - mean_a, -math.inf, math.inf, 1.0, False
        )
    var_a, var_b = float(a.var(ddof=1)), float(b.var(ddof=1))
    d = float(b.mean() - a.mean())
    v = max(var_a / n_a + var_b / n_b, 1e-300)
    pooled_sd = math.sqrt(max((var_a + var_b) / 2, 1e-300))
    tau2 = (effect_size * pooled_sd) ** 2
    log_lr = 0.5 * math.log(v / (v + tau2)) + d * d * tau2 / (2 * v * (v + tau2))
    p_value = min(1.0, math.exp(-log_lr)) if log_lr < 700 else 0.0
    half = math.sqrt(v * (v + tau2) / tau2 * (2 * math.log(1 / alpha) + math.log((v + tau2) / v)))
    return SequentialResult(
        n_a,
        n_b,
        float(a.mean()),
        float(b.mean()),
        d,
        d - half,
        d + half,
        p_value,
        p_value <= alpha,
    )


def row_loss(task: str, label: np.ndarray, score: np.ndarray) -> np.ndarray:
    """Per-row loss: log loss of the probability (classification) or squared error."""
    label = np.asarray(label, dtype=float)
    score = np.asarray(score, dtype=float)
    if task == "classification":
        p = np.clip(score, 1e-15, 1 - 1e-15)
        return -(label * np.log(p) + (1 - label) * np.log(1 - p))
    return (score - label) ** 2


def row_value(label: np.ndarray, decision: np.ndarray, cost: dict[str, float]) -> np.ndarray:
    """Business value of each decision under a cost matrix ``{tp, fp, fn, tn}``."""
    y = np.asarray(label) >= 0.5
    d = np.asarray(decision) >= 0.5
    return np.select(
        [d & y, d & ~y, ~d & y], [cost["tp"], cost["fp"], cost["fn"]], default=cost["tn"]
    ).astype(float)


@dataclass(frozen=True)
class GuardrailResult:
    """Challenger error rate and p99 latency against the spec's budgets."""

    requests: int
    error_rate: float
    p99_latency_ms: float
    violations: list[str]


def guardrails(
    requests: int, errors: int, latencies_ms: np.ndarray, spec: RolloutSpec
) -> GuardrailResult:
    """Check the challenger's guardrails (none judged before ``min_requests``)."""
    g = spec.guardrails
    total = requests + errors
    rate = errors / total if total else 0.0
    lat = np.asarray(latencies_ms, dtype=float)
    p99 = float(np.percentile(lat, 99)) if len(lat) else 0.0
    violations = []
    if total >= g.min_requests:
        if rate > g.max_error_rate:
            violations.append(f"error rate {rate:.4f} > max_error_rate {g.max_error_rate}")
        if p99 > g.max_p99_latency_ms:
            violations.append(
                f"p99 latency {p99:.1f} ms > max_p99_latency_ms {g.max_p99_latency_ms}"
            )
    return GuardrailResult(total, rate, p99, violations)


# --- evidence and decision -----------------------------------------------------------------


@dataclass
class RolloutEvidence:
    """What a look at a rollout saw: counts, SRM, the sequential tests and guardrails."""

    stage_index: int
    stage: Stage
    counts: dict[str, int]
    srm: SrmResult | None
    loss: SequentialResult | None
    value: SequentialResult | None
    guardrail: GuardrailResult
    elapsed_s: float
    is_last_stage: bool
    stage_samples: int = 0
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe form (audit row, report, XCom)."""
        return json_safe(asdict(self))


@dataclass(frozen=True)
class RolloutDecision:
    """The action a look at the evidence leads to, and why."""

    action: str
    reasons: list[str]


def decide(ev: RolloutEvidence, spec: RolloutSpec) -> RolloutDecision:
    """Halt on SRM, roll back on guardrails or harm, move on or promote on evidence, else wait.

    Promotion needs the challenger's loss to be significantly lower (the whole confidence
    sequence below zero); reaching ``max_duration`` without that ends the last stage in a
    roll back (a challenger must win, not merely tie) and earlier stages move on unless harm
    was shown.
    """
    if ev.srm is not None and ev.srm.mismatch:
        return RolloutDecision(
            HALT,
            [
                f"sample ratio mismatch: distinct units {ev.srm.counts} vs expected shares "
                f"{ev.srm.expected_share} (sequential SRM test p={ev.srm.p_value:.2e} <= "
                f"{ev.srm.alpha or spec.srm_alpha:.3g})"
            ],
        )
    if ev.guardrail.violations:
        return RolloutDecision(ROLLBACK, [f"guardrail: {v}" for v in ev.guardrail.violations])
    reasons = []
    worse = better = False
    for name, res in (("loss", ev.loss), ("business value", ev.value)):
        if res is None or not res.significant:
            continue
        # loss: challenger - champion < 0 is better; value: > 0 is better
        good = res.upper < 0 if name == "loss" else res.lower > 0
        reasons.append(
            f"{name}: challenger {res.mean_b:.4f} vs champion {res.mean_a:.4f}, "
            f"difference CS [{res.lower:.4f}, {res.upper:.4f}], p={res.p_value:.3g}"
        )
        worse |= not good
        better |= good and name == "loss"
    if worse:
        return RolloutDecision(ROLLBACK, ["challenger significantly worse", *reasons])
    enough = ev.stage_samples >= spec.min_samples  # labelled rows per variant, this stage
    timed_out = ev.elapsed_s >= spec.max_duration.total_seconds()
    if better and enough:
        action = PROMOTE if ev.is_last_stage else NEXT_STAGE
        return RolloutDecision(action, ["challenger significantly better", *reasons])
    if timed_out and not ev.counts.get(SHADOW if ev.stage.shadow else CHALLENGER):
        return RolloutDecision(
            HALT,
            [
                f"stage {ev.stage.name} ran {spec.max_duration} without one challenger "
                "prediction: the gateway does not serve the challenger (GET /v1/<usecase> "
                "shows its load errors); nothing was learned, so no verdict"
            ],
        )
    if timed_out:
        why = f"stage {ev.stage.name} reached max_duration {spec.max_duration} without a win"
        if ev.is_last_stage:
            return RolloutDecision(ROLLBACK, [why, "a challenger must win the test to replace"])
        return RolloutDecision(NEXT_STAGE, [why, "no harm shown; more traffic for more evidence"])
    return RolloutDecision(
        WAIT,
        [
            f"{ev.stage_samples} labelled rows per variant in stage {ev.stage.name} "
            f"(min_samples {spec.min_samples}); not conclusive"
        ],
    )


def now() -> datetime:
    """The current time, timezone-aware (UTC)."""
    return datetime.now(UTC)


# --- the rollout's life: start, look, act ---------------------------------------------------


def _row(conn: Any, rollout_id: str) -> Any:
    row = conn.execute(
        sa.select(store.rollouts).where(store.rollouts.c.rollout_id == rollout_id)
    ).first()
    if row is None:
        raise RolloutError(f"no rollout {rollout_id!r}; see `mlstack rollout status <usecase>`")
    return row


def start(
    spec: UseCaseSpec,
    *,
    challenger_version: int | None = None,
    actor: str = "cli",
    settings: Settings | None = None,
) -> dict[str, Any]:
    """Start rolling out the challenger (idempotent for the same challenger)."""
    s = settings or get_settings()
    aliases = registry.aliases_of(spec.name, s)
    version = challenger_version or aliases.get(CHALLENGER)
    if version is None:
        raise RolloutError(
            f"{spec.name} has no challenger; promotion names one (mlstack models promote)"
        )
    if aliases.get(CHAMPION) is None:
        raise RolloutError(f"{spec.name} has no champion to compare the challenger with")
    registry.get_version(spec.name, version, s)  # ModelNotFound names the versions there are
    current = running(spec.name, s)
    if current is not None:
        if current["challenger_version"] == int(version):
            return current
        raise RolloutError(
            f"{spec.name} already rolls out v{current['challenger_version']} "
            f"(rollout {current['rollout_id']}); stop it first: mlstack rollout stop {spec.name}"
        )
    stamp = now()
    row = {
        "rollout_id": str(uuid.uuid4()),
        "usecase": spec.name,
        "champion_version": aliases[CHAMPION],
        "challenger_version": int(version),
        "stages": [asdict(st) for st in plan(spec.rollout)],
        "stage_index": 0,
        "state": RUNNING,
        "started_at": stamp,
        "stage_started_at": stamp,
        "ended_at": None,
        "actor": actor,
    }
    with store.engine(s).begin() as conn:
        conn.execute(store.rollouts.insert().values(**row))
    log.info("Started rollout %s of %s v%s", row["rollout_id"], spec.name, version)
    return row


def stop(
    spec: UseCaseSpec, *, reason: str = "stopped by hand", settings: Settings | None = None
) -> dict[str, Any]:
    """Stop the running rollout (all traffic back to the champion); aliases stay as they are."""
    s = settings or get_settings()
    current = running(spec.name, s)
    if current is None:
        raise RolloutError(f"{spec.name} has no running rollout")
    _finish(current["rollout_id"], "stopped", s)
    _record(current, current["stage_index"], "stop", [reason], {}, None, s)
    return {**current, "state": "stopped"}


def _finish(rollout_id: str, state: str, s: Settings) -> None:
    with store.engine(s).begin() as conn:
        conn.execute(
            store.rollouts.update()
            .where(store.rollouts.c.rollout_id == rollout_id)
            .values(state=state, ended_at=now())
        )


def _record(
    ro: dict[str, Any],
    stage_index: int,
    action: str,
    reasons: list[str],
    evidence: dict[str, Any],
    report_uri: str | None,
    s: Settings,
) -> int:
    with store.engine(s).begin() as conn:
        res = conn.execute(
            store.rollout_decisions.insert().values(
                rollout_id=ro["rollout_id"],
                usecase=ro["usecase"],
                stage_index=stage_index,
                action=action,
                reasons=reasons,
                evidence=evidence,
                report_uri=report_uri,
                created_at=now(),
            )
        )
    pk = res.inserted_primary_key
    return int(pk[0]) if pk else 0


def _frames(rollout_id: str, usecase: str, s: Settings) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The rollout's predictions (with their label when known) and its scoring errors."""
    p, f, e = store.predictions.c, store.feedback.c, store.prediction_errors.c
    with store.engine(s).connect() as conn:
        preds = pd.DataFrame(
            conn.execute(
                sa.select(
                    p.prediction_id,
                    p.entity_id,
                    p.variant,
                    p.rollout_stage,
                    p.prediction,
                    p.score,
                    p.latency_ms,
                    p.created_at,
                ).where(p.rollout_id == rollout_id)
            ).all(),
            columns=[
                "prediction_id",
                "entity_id",
                "variant",
                "rollout_stage",
                "prediction",
                "score",
                "latency_ms",
                "created_at",
            ],
        )
        ids = sa.select(p.prediction_id).where(p.rollout_id == rollout_id)
        ents = sa.select(p.entity_id).where(p.rollout_id == rollout_id, p.entity_id.is_not(None))
        labels = pd.DataFrame(
            conn.execute(
                sa.select(f.prediction_id, f.entity_id, f.label)
                .where(
                    f.usecase == usecase, sa.or_(f.prediction_id.in_(ids), f.entity_id.in_(ents))
                )
                .order_by(f.received_at, f.id)  # the last label received counts
            ).all(),
            columns=["prediction_id", "entity_id", "label"],
        )
        errors = pd.DataFrame(
            conn.execute(
                sa.select(e.variant, e.rollout_stage, e.created_at).where(
                    e.rollout_id == rollout_id
                )
            ).all(),
            columns=["variant", "rollout_stage", "created_at"],
        )
    by_pid = dict(zip(labels["prediction_id"], labels["label"], strict=True))
    by_pid.pop(None, None)
    pid_entity = dict(zip(preds["prediction_id"], preds["entity_id"], strict=True))
    by_entity = {k: v for k, v in zip(labels["entity_id"], labels["label"], strict=True) if k}
    for pid, label in by_pid.items():
        if pid_entity.get(pid):
            by_entity.setdefault(pid_entity[pid], label)
    preds["label"] = [
        by_pid.get(pid, by_entity.get(ent) if ent else None)
        for pid, ent in zip(preds["prediction_id"], preds["entity_id"], strict=True)
    ]
    return preds, errors


def gather(
    spec: UseCaseSpec, ro: dict[str, Any], settings: Settings | None = None
) -> RolloutEvidence:
    """Look at a rollout: counts and SRM of this stage, sequential tests, guardrails."""
    s = settings or get_settings()
    rs = spec.rollout
    stages = [Stage(**st) for st in ro["stages"]]
    idx = int(ro["stage_index"])
    stage = stages[idx]
    preds, errors = _frames(ro["rollout_id"], spec.name, s)
    since = _aware(ro["stage_started_at"])
    # rows the gateway produced under this stage (it applies a new stage within its refresh)
    in_stage = preds[preds["rollout_stage"] == idx]
    err_stage = errors[errors["rollout_stage"] == idx]
    counts = {v: int((in_stage["variant"] == v).sum()) for v in (CHAMPION, CHALLENGER, SHADOW)}
    chall_variant = SHADOW if stage.shadow else CHALLENGER
    chall_errors = int((err_stage["variant"] == chall_variant).sum())
    srm = None
    units = None
    if not stage.shadow:
        units = srm_units(
            in_stage[in_stage["variant"] != SHADOW],
            ro["rollout_id"],
            stage.traffic,
            challenger_failed=chall_errors > 0,
        )
        srm = srm_test(
            units.units,
            {CHAMPION: 1 - stage.traffic, CHALLENGER: stage.traffic},
            srm_stage_alpha(rs, stages),
        )
        # the records the challenger failed: its answered rows were logged for the champion
        chall_errors = max(chall_errors, units.fallback_rows)
    labelled = preds[preds["label"].notna()]
    champ = labelled[labelled["variant"] == CHAMPION]
    chall = labelled[labelled["variant"].isin([CHALLENGER, SHADOW])]
    loss = value = None
    if len(champ) or len(chall):
        la, lb = (_losses(spec, champ), _losses(spec, chall))
        loss = msprt(la, lb, rs.alpha, rs.effect_size)
        cost = spec.training.cost_matrix
        if cost is not None and spec.task == "classification":
            va = row_value(champ["label"], champ["prediction"], cost.model_dump())
            vb = row_value(chall["label"], chall["prediction"], cost.model_dump())
            value = msprt(va, vb, rs.alpha, rs.effect_size)
    stage_labelled = in_stage[in_stage["label"].notna()]["variant"].value_counts()
    stage_samples = int(min(stage_labelled.get(CHAMPION, 0), stage_labelled.get(chall_variant, 0)))
    lat = in_stage.loc[in_stage["variant"] == chall_variant, "latency_ms"].to_numpy()
    guard = guardrails(counts[chall_variant], chall_errors, lat, rs)
    return RolloutEvidence(
        stage_index=idx,
        stage=stage,
        counts=counts,
        srm=srm,
        loss=loss,
        value=value,
        guardrail=guard,
        elapsed_s=(now() - since).total_seconds(),
        is_last_stage=idx == len(stages) - 1,
        stage_samples=stage_samples,
        extra={
            "labelled": {CHAMPION: len(champ), CHALLENGER: len(chall)},
            "errors": chall_errors,
            **({"srm_units": asdict(units)} if units is not None else {}),
        },
    )


def srm_stage_alpha(rs: RolloutSpec, stages: list[Stage]) -> float:
    """The SRM level of each A/B stage: ``srm_alpha`` split evenly over them, so that a
    rollout with a correct split halts for SRM with probability at most ``srm_alpha``."""
    return rs.srm_alpha / max(1, sum(not st.shadow for st in stages))


def _aware(t: Any) -> datetime:
    t = pd.Timestamp(t).to_pydatetime()
    return t if t.tzinfo else t.replace(tzinfo=UTC)


def _losses(spec: UseCaseSpec, rows: pd.DataFrame) -> np.ndarray:
    score = rows["score"] if spec.task == "classification" else rows["prediction"]
    return row_loss(spec.task, rows["label"].to_numpy(float), score.to_numpy(float))


def report_html(
    spec: UseCaseSpec, ro: dict[str, Any], ev: RolloutEvidence, d: RolloutDecision
) -> str:
    """A small self-contained HTML page of one decision and its evidence."""
    data = html.escape(json.dumps(ev.to_dict(), indent=2, default=str))
    reasons = "".join(f"<li>{html.escape(r)}</li>" for r in d.reasons)
    return (
        f"<!doctype html><html><head><meta charset='utf-8'><title>{spec.name} rollout</title>"
        f"</head><body><h1>{spec.name}: v{ro['challenger_version']} vs champion "
        f"v{ro['champion_version']}</h1><p>Rollout {ro['rollout_id']}, stage "
        f"{ev.stage.name}: <b>{d.action}</b></p><ul>{reasons}</ul><pre>{data}</pre></body></html>"
    )


def analyse(
    spec: UseCaseSpec, rollout_id: str, settings: Settings | None = None
) -> tuple[dict[str, Any], RolloutEvidence, RolloutDecision]:
    """Gather a running rollout's evidence and decide (nothing is changed)."""
    s = settings or get_settings()
    with store.engine(s).connect() as conn:
        ro = dict(_row(conn, rollout_id)._mapping)
    if ro["state"] != RUNNING:
        raise RolloutError(f"rollout {rollout_id} is {ro['state']}, not running")
    ev = gather(spec, ro, s)
    return ro, ev, decide(ev, spec.rollout)


def act(
    spec: UseCaseSpec,
    ro: dict[str, Any],
    ev: RolloutEvidence,
    d: RolloutDecision,
    *,
    actor: str = "rollout",
    settings: Settings | None = None,
) -> dict[str, Any]:
    """Make a decision real: record it with a report, move stage or aliases, notify."""
    from mlstack import lake, plugins
    from mlstack.notifications import dispatch as notify
    from mlstack.stages import promote

    s = settings or get_settings()
    evidence = ev.to_dict()
    report_uri = None
    if d.action != WAIT:
        key = report_keys.rollout_report_stem(spec.name, ro["rollout_id"], ev.stage_index, d.action)
        doc = {"rollout": json_safe(ro), "action": d.action, "reasons": d.reasons}
        lake.write_bytes(f"{key}.json", json.dumps({**doc, "evidence": evidence}).encode(), s)
        report_uri = lake.write_bytes(f"{key}.html", report_html(spec, ro, ev, d).encode(), s)
    decision_id = _record(ro, ev.stage_index, d.action, d.reasons, evidence, report_uri, s)
    rid, version = ro["rollout_id"], int(ro["challenger_version"])
    if d.action == NEXT_STAGE:
        with store.engine(s).begin() as conn:
            conn.execute(
                store.rollouts.update()
                .where(store.rollouts.c.rollout_id == rid)
                .values(stage_index=ev.stage_index + 1, stage_started_at=now())
            )
    elif d.action == PROMOTE:
        promote.override(
            spec, version, to=CHAMPION, reason=f"won rollout {rid}: {d.reasons[-1]}", actor=actor
        )
        _finish(rid, FINAL_STATES[PROMOTE], s)
    elif d.action == ROLLBACK:
        if registry.aliases_of(spec.name, s).get(CHALLENGER) == version:
            registry.delete_alias(spec.name, CHALLENGER, s)
        registry.set_tags(spec.name, version, {"mlstack.rollout": "rolled_back"}, s)
        _finish(rid, FINAL_STATES[ROLLBACK], s)
    elif d.action == HALT:
        _finish(rid, FINAL_STATES[HALT], s)
    if d.action != WAIT:
        event = {
            "title": f"{spec.name} rollout of v{version}: {d.action}",
            "usecase": spec.name,
            "rollout_id": rid,
            "action": d.action,
            "reasons": d.reasons,
            "report": report_uri,
        }
        plugins.load_for(spec)
        rs = spec.rollout
        notify.send(rs.notifier, rs.notifier_options, event, f"{spec.path}: rollout.notifier")
    log.info("%s rollout %s: %s (%s)", spec.name, rid, d.action, "; ".join(d.reasons))
    return {
        "rollout_id": rid,
        "decision_id": decision_id,
        "action": d.action,
        "reasons": d.reasons,
        "stage": ev.stage.name,
        "report": report_uri,
    }
