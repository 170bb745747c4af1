"""Rollout statistics: always-valid error control under peeking, power, SRM, decisions."""

from __future__ import annotations

import dataclasses
from datetime import timedelta

import numpy as np
import pytest
from mlstack.specs import RolloutSpec
from mlstack.stages import rollout as ro

LOOKS = range(200, 4001, 200)  # 20 looks at a growing sample


def _ever_significant(rng: np.random.Generator, p_a: float, p_b: float, alpha: float) -> bool:
    a = (rng.random(max(LOOKS)) < p_a).astype(float)
    b = (rng.random(max(LOOKS)) < p_b).astype(float)
    return any(ro.msprt(a[:n], b[:n], alpha, effect_size=0.1).significant for n in LOOKS)


def test_msprt_aa_with_20_looks_keeps_false_positives_under_alpha() -> None:
    rng = np.random.default_rng(7)
    alpha, sims = 0.05, 400
    hits = sum(_ever_significant(rng, 0.1, 0.1, alpha) for _ in range(sims))
    # binomial margin: 3 standard errors above alpha would still fail a broken test
    assert hits / sims <= alpha, f"A/A false-positive rate {hits / sims:.3f} > {alpha}"


def test_naive_z_test_with_20_looks_inflates_false_positives() -> None:
    """The reason for mSPRT: a fixed-horizon test checked at every look goes well over alpha."""
    rng = np.random.default_rng(7)
    hits = 0
    for _ in range(400):
        a = (rng.random(4000) < 0.1).astype(float)
        b = (rng.random(4000) < 0.1).astype(float)
        for n in LOOKS:
            se = np.sqrt(a[:n].var(ddof=1) / n + b[:n].var(ddof=1) / n)
            if abs(b[:n].mean() - a[:n].mean()) / se > 1.96:
                hits += 1
                break
    assert hits / 400 > 0.1


def test_msprt_known_effect_detected_with_stated_power() -> None:
    rng = np.random.default_rng(11)
    sims = 200
    hits = sum(_ever_significant(rng, 0.10, 0.13, 0.05) for _ in range(sims))
    assert hits / sims >= 0.8, f"power {hits / sims:.2f} < 0.8 for 10% -> 13% at n=4000"


def test_msprt_confidence_sequence_covers_true_difference() -> None:
    rng = np.random.default_rng(3)
    a = rng.normal(1.0, 1.0, 3000)
    b = rng.normal(0.9, 1.0, 3000)
    res = ro.msprt(a, b, 0.05, 0.1)
    assert res.lower <= -0.1 <= res.upper
    assert res.significant and res.upper < 0


def test_msprt_tiny_sample_not_significant() -> None:
    res = ro.msprt(np.array([1.0]), np.array([0.0, 1.0]), 0.05, 0.1)
    assert not res.significant and res.p_value == 1.0


def test_srm_test_skewed_split_flags_mismatch() -> None:
    res = ro.srm_test(
        {"champion": 9300, "challenger": 700}, {"champion": 0.9, "challenger": 0.1}, 0.001
    )
    assert res.mismatch and res.p_value < 1e-6


def test_srm_test_hash_assignment_matches_split() -> None:
    counts = {"champion": 0, "challenger": 0}
    for i in range(20000):
        counts[ro.assign("r-1", f"entity-{i}", 0.1)] += 1
    res = ro.srm_test(counts, {"champion": 0.9, "challenger": 0.1}, 0.001)
    assert not res.mismatch


def test_assign_same_entity_keeps_variant() -> None:
    first = [ro.assign("r-1", f"e{i}", 0.5) for i in range(100)]
    assert first == [ro.assign("r-1", f"e{i}", 0.5) for i in range(100)]
    assert first != [ro.assign("r-2", f"e{i}", 0.5) for i in range(100)]


def test_plan_shadow_mode_starts_with_shadow_stage() -> None:
    stages = ro.plan(RolloutSpec(mode="shadow", stages=[0.1, 0.5]))
    assert [(s.name, s.traffic, s.shadow) for s in stages] == [
        ("shadow", 0.0, True),
        ("10%", 0.1, False),
        ("50%", 0.5, False),
    ]


def test_rollout_spec_decreasing_stages_rejected() -> None:
    with pytest.raises(ValueError, match="strictly increasing"):
        RolloutSpec(stages=[0.5, 0.1])


def _evidence(loss: ro.SequentialResult | None, **kw: object) -> ro.RolloutEvidence:
    base: dict = dict(
        stage_index=1,
        stage=ro.Stage("50%", 0.5),
        counts={"champion": 500, "challenger": 500},
        srm=None,
        loss=loss,
        value=None,
        guardrail=ro.GuardrailResult(500, 0.0, 5.0, []),
        elapsed_s=60.0,
        is_last_stage=True,
        stage_samples=3000,
    )
    base.update(kw)
    return ro.RolloutEvidence(**base)


def _loss(delta: float, n: int = 3000) -> ro.SequentialResult:
    rng = np.random.default_rng(5)
    return ro.msprt(rng.normal(1, 1, n), rng.normal(1 + delta, 1, n), 0.05, 0.1)


def test_decide_better_challenger_at_last_stage_promotes() -> None:
    assert ro.decide(_evidence(_loss(-0.2)), RolloutSpec()).action == ro.PROMOTE


def test_decide_worse_challenger_rolls_back() -> None:
    assert ro.decide(_evidence(_loss(0.2)), RolloutSpec()).action == ro.ROLLBACK


def test_decide_srm_halts_before_anything_else() -> None:
    srm = ro.srm_test(
        {"champion": 900, "challenger": 100}, {"champion": 0.5, "challenger": 0.5}, 0.001
    )
    d = ro.decide(_evidence(_loss(-0.2), srm=srm), RolloutSpec())
    assert d.action == ro.HALT and "sample ratio mismatch" in d.reasons[0]


def test_decide_guardrail_violation_rolls_back() -> None:
    lat = np.full(500, 300.0)
    g = ro.guardrails(500, 0, lat, RolloutSpec())
    d = ro.decide(_evidence(_loss(-0.2), guardrail=g), RolloutSpec())
    assert d.action == ro.ROLLBACK and "p99 latency" in d.reasons[0]


def test_decide_inconclusive_waits_then_times_out() -> None:
    spec = RolloutSpec(max_duration=timedelta(hours=1))
    assert ro.decide(_evidence(_loss(0.0, 100)), spec).action == ro.WAIT
    few = _evidence(_loss(-0.2), stage_samples=50)  # better, but too little of this stage
    assert ro.decide(few, spec).action == ro.WAIT
    late = _evidence(_loss(0.0, 100), elapsed_s=7200.0)
    assert ro.decide(late, spec).action == ro.ROLLBACK
    early_stage = _evidence(_loss(0.0, 100), elapsed_s=7200.0, is_last_stage=False)
    assert ro.decide(early_stage, spec).action == ro.NEXT_STAGE


def test_decide_stage_without_challenger_traffic_halts_at_timeout() -> None:
    spec = RolloutSpec(max_duration=timedelta(hours=1))
    starved = _evidence(
        ro.msprt(np.ones(500), np.array([]), 0.05, 0.1),
        counts={"champion": 500, "challenger": 0},
        stage_samples=0,
    )
    assert ro.decide(starved, spec).action == ro.WAIT  # may still come
    d = ro.decide(dataclasses.replace(starved, elapsed_s=7200.0, is_last_stage=False), spec)
    assert d.action == ro.HALT and "does not serve the challenger" in d.reasons[0]


def test_row_loss_confident_wrong_costs_more() -> None:
    loss = ro.row_loss("classification", np.array([1, 1]), np.array([0.9, 0.1]))
    assert loss[1] > loss[0] > 0


def test_rollout_labels_one_per_prediction_and_prediction_id_wins(embedded_settings) -> None:
    """A second label for one prediction cannot be stored (the feedback table's unique index:
    the gateway's writer upserts instead, the last received wins); for one entity a
    prediction-id label wins over an entity-id one, whatever their order."""
    from datetime import UTC, datetime

    import pytest
    import sqlalchemy as sa
    from mlstack import store
    from monitoring_rows import insert

    t0 = datetime(2026, 3, 2, 8, tzinfo=UTC)

    def pred(pid: str, entity: str) -> dict:
        return {
            "prediction_id": pid,
            "usecase": "credit_default",
            "entity_id": entity,
            "rollout_id": "r1",
            "rollout_stage": 0,
            "variant": "champion",
            "model_version": 1,
            "features": {},
            "prediction": 0.0,
            "score": 0.2,
            "latency_ms": 1.0,
            "created_at": t0,
        }

    def label(pid: str | None, entity: str | None, value: float, minutes: int) -> dict:
        at = t0 + timedelta(minutes=minutes)
        return {
            "usecase": "credit_default",
            "prediction_id": pid,
            "entity_id": entity,
            "label": value,
            "label_at": at,
            "received_at": at,
        }

    insert(embedded_settings, store.predictions, [pred("p1", "e1"), pred("p2", "e2")])
    insert(embedded_settings, store.feedback, [label("p1", None, 0.0, 9)])
    with pytest.raises(sa.exc.IntegrityError):  # what two racing workers once could store
        insert(embedded_settings, store.feedback, [label("p1", None, 1.0, 5)])
    insert(
        embedded_settings, store.feedback, [label(None, "e2", 1.0, 9), label("p2", None, 0.0, 1)]
    )
    preds, _ = ro._frames("r1", "credit_default", embedded_settings)
    assert dict(zip(preds["prediction_id"], preds["label"], strict=True)) == {"p1": 0.0, "p2": 0.0}
