"""SRM under real traffic: repeated entities, a look at every poll, challenger failures.

The A/A simulations (tests/srm_simulation.py) are small here; bench/bench_srm.py runs the
large ones and commits their table.
"""

from __future__ import annotations

import uuid

import numpy as np
import pandas as pd
import pytest
from mlstack.specs import RolloutSpec
from mlstack.stages import rollout as ro
from srm_simulation import Scenario, false_halt_rates

# clustered traffic: 3000 entities send 60k requests per stage, a few of them most of it
CLUSTERED = Scenario(entities=3000, requests_per_stage=60_000, polls=300, stages=(0.1, 0.5))


def test_srm_aa_clustered_entities_many_polls_false_halts_at_most_alpha() -> None:
    alpha, rollouts = 0.05, 400
    rates = false_halt_rates(
        Scenario(**{**CLUSTERED.__dict__, "srm_alpha": alpha}), rollouts, seed=1
    )
    # the sequential test on distinct entities keeps its level over 2 stages x 300 looks
    assert rates["units_sequential"] <= alpha, rates
    # the cause, shown: requests of repeated entities are not independent draws
    assert rates["requests_chisquare"] > 0.5, rates


def test_srm_aa_default_alpha_clustered_many_polls_no_false_halt_rate_above_alpha() -> None:
    rollouts = 1000
    rates = false_halt_rates(CLUSTERED, rollouts, seed=2)  # srm_alpha 0.001 (the default)
    assert rates["units_sequential"] <= CLUSTERED.srm_alpha, rates
    assert rates["requests_chisquare"] > 0.2, rates


def test_srm_chisquare_on_units_at_every_poll_exceeds_alpha() -> None:
    """Why the test is sequential: a fixed-sample chi-square looked at 300 times per stage."""
    sc = Scenario(**{**CLUSTERED.__dict__, "srm_alpha": 0.05})
    rates = false_halt_rates(sc, 400, seed=3)
    assert rates["units_chisquare"] > 2 * sc.srm_alpha, rates


@pytest.mark.parametrize(
    ("share", "observed_share", "units"),
    [(0.5, 0.48, 20_000), (0.1, 0.09, 20_000), (0.5, 0.40, 2_000)],
)
def test_srm_test_real_mismatch_detected(share: float, observed_share: float, units: int) -> None:
    chall = round(units * observed_share)
    res = ro.srm_test(
        {ro.CHAMPION: units - chall, ro.CHALLENGER: chall},
        {ro.CHAMPION: 1 - share, ro.CHALLENGER: share},
        0.0005,
    )
    assert res.mismatch and res.p_value <= 0.0005 and res.statistic > 0


def test_srm_test_exact_split_has_p_one() -> None:
    res = ro.srm_test(
        {"champion": 9000, "challenger": 1000}, {"champion": 0.9, "challenger": 0.1}, 0.001
    )
    assert res.p_value == 1.0 and not res.mismatch


def test_srm_stage_alpha_splits_over_ab_stages_only() -> None:
    rs = RolloutSpec(mode="shadow", stages=[0.1, 0.5], srm_alpha=0.002)
    assert ro.srm_stage_alpha(rs, ro.plan(rs)) == pytest.approx(0.001)


def _rows(rollout_id: str, entities: list[str | None], traffic: float) -> pd.DataFrame:
    pids = [str(uuid.UUID(int=i)) for i in range(len(entities))]
    variant = [
        ro.assign(rollout_id, e if e is not None else p, traffic)
        for e, p in zip(entities, pids, strict=True)
    ]
    return pd.DataFrame({"prediction_id": pids, "entity_id": entities, "variant": variant})


def test_srm_units_repeated_entity_counted_once() -> None:
    rid = "r-units"
    entities = [f"patient-{i % 50}" for i in range(5000)]  # 50 patients, 100 visits each
    units = ro.srm_units(_rows(rid, entities, 0.5), rid, 0.5, challenger_failed=False)
    assert sum(units.units.values()) == 50
    expected_chall = sum(ro.assign(rid, f"patient-{i}", 0.5) == ro.CHALLENGER for i in range(50))
    assert units.units[ro.CHALLENGER] == expected_chall
    assert units.fallback_rows == 0 and units.units_in_both == 0


def test_srm_units_without_entity_counts_each_prediction() -> None:
    rid = "r-anon"
    units = ro.srm_units(_rows(rid, [None] * 400, 0.1), rid, 0.1, challenger_failed=False)
    assert sum(units.units.values()) == 400


def test_srm_units_failed_challenger_row_counted_once_for_the_challenger() -> None:
    """A challenger failure is logged as a champion row (the champion answered it) plus an
    error: it counts once, for the challenger, so a 1 % error rate cannot fake a mismatch."""
    rid = "r-fail"
    rows = _rows(rid, [f"e{i}" for i in range(20_000)], 0.5)
    chall = np.flatnonzero(rows["variant"] == ro.CHALLENGER)
    failed = chall[: len(chall) // 100]  # 1 % of the challenger's records failed
    rows.loc[failed, "variant"] = ro.CHAMPION
    honest = ro.srm_units(
        _rows(rid, [f"e{i}" for i in range(20_000)], 0.5), rid, 0.5, challenger_failed=False
    )
    units = ro.srm_units(rows, rid, 0.5, challenger_failed=True)
    assert units.units == honest.units
    assert units.fallback_rows == len(failed)
    # without logged errors nothing is moved: misrouted rows stay a mismatch
    unexplained = ro.srm_units(rows, rid, 0.5, challenger_failed=False)
    assert unexplained.units[ro.CHALLENGER] == honest.units[ro.CHALLENGER] - len(failed)


def test_srm_units_entity_logged_under_both_variants_reported() -> None:
    rid = "r-both"
    rows = _rows(rid, ["a", "a", "b"], 0.5)
    rows.loc[1, "variant"] = ro.CHALLENGER if rows.loc[0, "variant"] == ro.CHAMPION else ro.CHAMPION
    assert ro.srm_units(rows, rid, 0.5, challenger_failed=False).units_in_both == 1


def test_decide_srm_halt_names_units_and_sequential_test() -> None:
    srm = ro.srm_test(
        {"champion": 900, "challenger": 100}, {"champion": 0.5, "challenger": 0.5}, 0.0005
    )
    ev = ro.RolloutEvidence(
        stage_index=1,
        stage=ro.Stage("50%", 0.5),
        counts={"champion": 900, "challenger": 100},
        srm=srm,
        loss=None,
        value=None,
        guardrail=ro.GuardrailResult(100, 0.0, 5.0, []),
        elapsed_s=60.0,
        is_last_stage=True,
    )
    d = ro.decide(ev, RolloutSpec())
    assert d.action == ro.HALT
    assert "distinct units" in d.reasons[0] and "sequential SRM test" in d.reasons[0]
    assert "<= 0.0005" in d.reasons[0]
