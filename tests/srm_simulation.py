"""A/A rollouts simulated in numpy: how often does the SRM check halt a correct split?

Used by tests/unit/test_rollout_srm.py (small, seconds) and bench/bench_srm.py (large, with
its committed table). One simulated rollout runs its A/B stages (challenger shares, e.g.
10 % then 50 %); in each stage, a pool of entities with heavy-tailed activity (lognormal
request rates: a few entities send most requests, like patients or customers who come
back) sends requests as Poisson processes, and the gateway's split is per entity
(``assign`` hashes the entity id: each entity is a Bernoulli(share) draw). The rollout DAG
looks at the evidence ``polls`` times per stage (evenly spaced) and halts at the first look
that finds a mismatch. Counting methods compared:

* ``requests_chisquare`` — what mlstack did before: chi-square of *request* counts at each
  look at the stage's level, a challenger failure counted for the champion (its fallback
  row) and again for the challenger (its error row);
* ``units_chisquare`` — chi-square of *distinct entities* at each look (no correction for
  the looks);
* ``units_sequential`` — what mlstack does now: :func:`mlstack.stages.rollout.srm_test`
  (anytime-valid) on distinct entities, at ``srm_stage_alpha`` per stage.

Entities are simulated as independent Bernoulli draws, which is what the blake2b hash gives
(tests/unit/test_rollout_srm.py checks the hash path and the counting of real rows).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from mlstack.stages.rollout import SRM_CONCENTRATION
from scipy.special import gammaln, xlogy
from scipy.stats import chi2

METHODS = ("requests_chisquare", "units_chisquare", "units_sequential")


@dataclass(frozen=True)
class Scenario:
    """One A/A setting: entities, traffic per stage, looks per stage, challenger errors."""

    entities: int = 20_000
    requests_per_stage: int = 200_000
    activity_sigma: float = 1.5  # lognormal sigma of per-entity request rates
    stages: tuple[float, ...] = (0.1, 0.5)
    polls: int = 1000
    srm_alpha: float = 0.001
    challenger_error_rate: float = 0.0


def _chisquare_p(x_chall: np.ndarray, n: np.ndarray, share: float) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        stat = (x_chall - n * share) ** 2 / (n * share * (1 - share))
    return np.where(n > 0, chi2.sf(np.nan_to_num(stat), 1), 1.0)


def _sequential_p(x_chall: np.ndarray, n: np.ndarray, share: float) -> np.ndarray:
    """The same Bayes factor as ``srm_test``, vectorised over looks and rollouts."""
    p0 = np.array([1 - share, share])
    a = SRM_CONCENTRATION * p0
    x = np.stack([n - x_chall, x_chall], axis=-1).astype(float)
    log_bf = (
        gammaln(a.sum())
        - gammaln(a.sum() + n)
        + np.sum(gammaln(a + x) - gammaln(a), axis=-1)
        - np.sum(xlogy(x, p0), axis=-1)
    )
    return np.minimum(1.0, np.exp(-np.clip(log_bf, -700, 700)))


def _stage(
    rng: np.random.Generator, sc: Scenario, share: float, rollouts: int, alpha_stage: float
) -> dict[str, np.ndarray]:
    """Per method, which of ``rollouts`` halted during one stage (boolean per rollout)."""
    rates = rng.lognormal(0.0, sc.activity_sigma, sc.entities)
    rates *= sc.requests_per_stage / rates.sum()  # expected requests of each entity per stage
    looks = np.arange(1, sc.polls + 1) / sc.polls  # look times, stage length 1
    halted = {m: np.zeros(rollouts, dtype=bool) for m in METHODS}
    chunk = max(1, 2_000_000 // sc.entities)
    for lo in range(0, rollouts, chunk):
        r = min(chunk, rollouts - lo)
        chall = rng.random((r, sc.entities)) < share  # per-entity assignment
        # distinct entities seen by each look: first arrival ~ Exp(rate)
        first = rng.exponential(1.0, (r, sc.entities)) / rates
        look_of = np.searchsorted(looks, first)  # index of the first look that sees it
        seen_all = np.zeros((r, sc.polls + 1))
        seen_chall = np.zeros((r, sc.polls + 1))
        rows = np.repeat(np.arange(r), sc.entities).reshape(r, sc.entities)
        np.add.at(seen_all, (rows, look_of), 1)
        np.add.at(seen_chall, (rows[chall], look_of[chall]), 1)
        units_n = np.cumsum(seen_all[:, :-1], axis=1)
        units_c = np.cumsum(seen_chall[:, :-1], axis=1)
        # requests: each arm is a Poisson process with its (random, clustered) total rate
        w_chall = (rates * chall).sum(axis=1)
        w_champ = rates.sum() - w_chall
        dt = 1.0 / sc.polls
        req_c = np.cumsum(rng.poisson(np.outer(w_chall, np.full(sc.polls, dt))), axis=1)
        req_a = np.cumsum(rng.poisson(np.outer(w_champ, np.full(sc.polls, dt))), axis=1)
        # the old counting: a failed challenger request logged for the champion and as an error
        errors = rng.binomial(req_c, sc.challenger_error_rate)
        old_c, old_a = req_c, req_a + errors
        halted["requests_chisquare"][lo : lo + r] = (
            _chisquare_p(old_c, old_a + old_c, share) < sc.srm_alpha
        ).any(axis=1)
        halted["units_chisquare"][lo : lo + r] = (
            _chisquare_p(units_c, units_n, share) < sc.srm_alpha
        ).any(axis=1)
        halted["units_sequential"][lo : lo + r] = (
            _sequential_p(units_c, units_n, share) <= alpha_stage
        ).any(axis=1)
    return halted


def false_halt_rates(sc: Scenario, rollouts: int, seed: int = 0) -> dict[str, float]:
    """Share of A/A rollouts halted for SRM in any stage, per counting method."""
    rng = np.random.default_rng(seed)
    alpha_stage = sc.srm_alpha / len(sc.stages)  # as rollout.srm_stage_alpha
    any_halt = {m: np.zeros(rollouts, dtype=bool) for m in METHODS}
    for share in sc.stages:
        for m, h in _stage(rng, sc, share, rollouts, alpha_stage).items():
            any_halt[m] |= h
    return {m: float(h.mean()) for m, h in any_halt.items()}
