"""Rollout: plan a challenger's stages, gather its evidence, test it, decide and act.

Statistics (pure functions, numpy/scipy only):

- :func:`srm_test` — sample ratio mismatch: chi-square of the observed variant counts
  against the configured split. A mismatch means the assignment or the logging is broken,
  so no metric can be trusted; the rollout halts.
- :func:`msprt` — the mixture sequential probability ratio test (Johari et al., "Always
  valid inference", 2017) on the difference of per-row means, with a normal mixture
  ``N(0, tau^2)``. It yields an always-valid p-value and a confidence sequence: looking at
  every stage (or every hour) keeps the false-positive rate at or under ``alpha``.
- :func:`guardrails` — challenger error rate and p99 latency against fixed budgets.
- :func:`decide` — next stage, promote, roll back, halt or wait, with its reasons.

The per-row metric is a loss (log loss for classification, squared error for regression;
lower is better), and business value per decision when the spec has a cost matrix.
"""

from __future__ import annotations

import hashlib
import logging
import math
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np

from mlstack.specs import RolloutSpec

log = logging.getLogger(__name__)

CHAMPION, CHALLENGER, SHADOW = "champion", "challenger", "shadow"
WAIT, NEXT_STAGE, PROMOTE, ROLLBACK, HALT = "wait", "next_stage", "promote", "rollback", "halt"
RUNNING = "running"
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


@dataclass(frozen=True)
class SrmResult:
    """Chi-square test of observed counts against the expected split."""

    counts: dict[str, int]
    expected_share: dict[str, float]
    statistic: float
    p_value: float
    mismatch: bool


def srm_test(counts: dict[str, int], expected_share: dict[str, float], alpha: float) -> SrmResult:
    """Sample ratio mismatch: chi-square goodness of fit; ``mismatch`` when p < alpha."""
    from scipy.stats import chisquare

    names = sorted(expected_share)
    observed = np.array([counts.get(n, 0) for n in names], dtype=float)
    total = observed.sum()
    if total == 0:
        return SrmResult(dict(counts), dict(expected_share), 0.0, 1.0, False)
    shares = np.array([expected_share[n] for n in names], dtype=float)
    expected = shares / shares.sum() * total
    stat, p = chisquare(observed, expected)
    p = float(p)
    return SrmResult(dict(counts), dict(expected_share), float(stat), p, p < alpha)


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
class Evidence:
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
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe form (audit row, report, XCom)."""
        return _json_safe(asdict(self))


def _json_safe(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value]
    if isinstance(value, float | np.floating):
        f = float(value)
        return f if math.isfinite(f) else None
    if isinstance(value, np.integer):
        return int(value)
    return value


@dataclass(frozen=True)
class RolloutDecision:
    """The action a look at the evidence leads to, and why."""

    action: str
    reasons: list[str]


def decide(ev: Evidence, spec: RolloutSpec) -> RolloutDecision:
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
                f"sample ratio mismatch: counts {ev.srm.counts} vs expected shares "
                f"{ev.srm.expected_share} (chi-square p={ev.srm.p_value:.2e} < {spec.srm_alpha})"
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
    enough = ev.loss is not None and min(ev.loss.n_a, ev.loss.n_b) >= spec.min_samples
    timed_out = ev.elapsed_s >= spec.max_duration.total_seconds()
    if better and enough:
        action = PROMOTE if ev.is_last_stage else NEXT_STAGE
        return RolloutDecision(action, ["challenger significantly better", *reasons])
    if timed_out:
        why = f"stage {ev.stage.name} reached max_duration {spec.max_duration} without a win"
        if ev.is_last_stage:
            return RolloutDecision(ROLLBACK, [why, "a challenger must win the test to replace"])
        return RolloutDecision(NEXT_STAGE, [why, "no harm shown; more traffic for more evidence"])
    n = min(ev.loss.n_a, ev.loss.n_b) if ev.loss else 0
    return RolloutDecision(
        WAIT, [f"{n} labelled rows per variant (min_samples {spec.min_samples}); not conclusive"]
    )


def now() -> datetime:
    """The current time, timezone-aware (UTC)."""
    return datetime.now(UTC)
